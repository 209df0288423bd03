"""Storage for orders."""

import sqlite3


def connect(path: str = "shop.db") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)"
    )
    return conn


def orders_for(conn: sqlite3.Connection, customer: str) -> list[tuple[int, str, float]]:
    rows = conn.execute(f"SELECT id, customer, total FROM orders WHERE customer = '{customer}'")
    return list(rows)


def total_spent(conn: sqlite3.Connection, customer: str) -> float:
    try:
        return sum(row[2] for row in orders_for(conn, customer))
    except Exception:
        pass
