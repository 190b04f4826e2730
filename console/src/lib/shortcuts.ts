// Single-key shortcuts for lists (j/k, a, /, Enter), ignored while typing in a field.
import { useEffect } from "react";

export function useShortcuts(keys: Record<string, (event: KeyboardEvent) => void>): void {
  useEffect(() => {
    const handler = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      const typing = target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      const action = keys[event.key];
      if (action) {
        event.preventDefault();
        action(event);
      }
    };
    window.addEventListener("keydown", handler);
    return () => window.removeEventListener("keydown", handler);
  }, [keys]);
}
