"""What the tests and the bench share: the fakes at the network edge, signing and keys, scripted
model answers and load generation.

- ``testkit.fakes``: a fake GitHub (REST validated against GitHub's OpenAPI description, the
  App endpoints and the web host) and a fake OpenAI-compatible server, on real loopback HTTP;
- ``testkit.signing``: webhook payloads from the corpus, signed as GitHub signs them, and a
  fresh key pair for a test App;
- ``testkit.reviewer``: a model that answers every triage and review request of a run;
- ``testkit.loadgen``: signed deliveries posted at once or open-loop at a fixed rate;
- ``testkit.serve_process``: ``prwarden serve`` as a real process on a free port;
- ``testkit.pgcluster``: a throwaway PostgreSQL server from Debian's package;
- ``testkit.fleet``: receivers and workers as processes on one PostgreSQL.

``tests/`` and ``bench/`` both import from here and never from each other. It is not part of
the installed product: no product package imports it.
"""
