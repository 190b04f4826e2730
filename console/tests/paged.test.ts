import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { usePaged, type PageOf } from "../src/lib/usePaged";

/** Three pages of a list behind cursors "p2" and "p3", as the API pages them. */
const PAGES: Record<string, PageOf<number>> = {
  "": { items: [1, 2], next_cursor: "p2" },
  p2: { items: [3, 4], next_cursor: "p3" },
  p3: { items: [5], next_cursor: null },
};

describe("a cursor-paged list", () => {
  it("loads the first page, appends each next one, and stops when no cursor is left", async () => {
    const asked: (string | undefined)[] = [];
    const load = async (cursor: string | undefined) => {
      asked.push(cursor);
      return PAGES[cursor ?? ""];
    };
    const { result } = renderHook(() => usePaged(load, []));
    await waitFor(() => expect(result.current.items).toEqual([1, 2]));
    expect(result.current.more).toBe(true);
    await act(() => result.current.loadMore());
    expect(result.current.items).toEqual([1, 2, 3, 4]);
    await act(() => result.current.loadMore());
    expect(result.current.items).toEqual([1, 2, 3, 4, 5]);
    expect(result.current.more).toBe(false);
    await act(() => result.current.reload());
    expect(result.current.items).toEqual([1, 2]);
    expect(asked).toEqual([undefined, "p2", "p3", undefined]);
  });

  it("drops an answer for filters that have changed since", async () => {
    let release: (page: PageOf<string>) => void = () => undefined;
    const slow = new Promise<PageOf<string>>((resolve) => (release = resolve));
    const { result, rerender } = renderHook(({ filter }) => usePaged(async () => (filter === "old" ? slow : { items: ["new"] }), [filter]), {
      initialProps: { filter: "old" },
    });
    rerender({ filter: "new" });
    await waitFor(() => expect(result.current.items).toEqual(["new"]));
    await act(async () => release({ items: ["old"], next_cursor: "x" }));
    expect(result.current.items).toEqual(["new"]);
    expect(result.current.more).toBe(false);
  });
});
