// A cursor-paged list of the API (`Page[...]`: `items`, `next_cursor`): the first page, then more
// on demand; `reload` starts over (after a change, or when the filters in `deps` change).
import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";

export type PageOf<T> = { items: T[]; next_cursor?: string | null };

export function usePaged<T>(load: (cursor: string | undefined) => Promise<PageOf<T>>, deps: DependencyList) {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<Error | null>(null);
  const generation = useRef(0); // an answer for filters since changed is dropped
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);

  const fetchPage = useCallback(
    async (after: string | undefined, append: boolean) => {
      const mine = ++generation.current;
      setLoading(true);
      setError(null);
      try {
        const page = await run(after);
        if (mine !== generation.current) return;
        setItems((current) => (append ? [...current, ...page.items] : page.items));
        setCursor(page.next_cursor ?? null);
      } catch (e) {
        if (mine === generation.current) setError(e as Error);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [run],
  );
  const reload = useCallback(() => fetchPage(undefined, false), [fetchPage]);
  const loadMore = useCallback(() => (cursor ? fetchPage(cursor, true) : Promise.resolve()), [cursor, fetchPage]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { items, loading, error, more: cursor !== null, loadMore, reload };
}
