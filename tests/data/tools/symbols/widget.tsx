export class Widget {
  render() {
    return <div className="widget" />;
  }
}

export function useWidget(): Widget {
  return new Widget();
}
