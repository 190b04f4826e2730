// The page's CSP allows styles from the origin and `<style>` elements carrying the nonce the
// server put in the page (soc_api/webapi/console.py). Ant Design's run-time styles take it from
// ConfigProvider, but a few of its helpers (scroll-bar measuring in tables, feature checks) make
// `<style>` elements without one, which the browser refuses and reports. Every `<style>` this
// bundle creates gets the nonce here; markup injected by anyone else still cannot carry it.
export function cspNonce(doc: Document = document): string | undefined {
  const value = doc.querySelector('meta[name="csp-nonce"]')?.getAttribute("content") ?? undefined;
  return value && !value.startsWith("__") ? value : undefined;
}

export function stampStyleNonce(doc: Document = document): void {
  const nonce = cspNonce(doc);
  if (!nonce) return;
  const create = doc.createElement.bind(doc) as (tag: string, options?: ElementCreationOptions) => HTMLElement;
  doc.createElement = ((tag: string, options?: ElementCreationOptions) => {
    const element = create(tag, options);
    if (tag.toLowerCase() === "style") element.nonce = nonce;
    return element;
  }) as Document["createElement"];
}

stampStyleNonce();
