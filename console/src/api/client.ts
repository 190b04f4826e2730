// The one API client every page uses: typed from the served OpenAPI document (`openapi.json`,
// exported by `datasoc schema openapi`; `npm run gen` writes `schema.d.ts`), so a contract change
// breaks `npm run build`, not the analyst. Cookie sessions send `X-CSRF-Token` on state-changing
// requests; a 401 anywhere tells the session layer to show the sign-in page again.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
/** RFC 9457 problem details, as every error of the API answers. */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail?: string | null;
  instance?: string | null;
  request_id?: string | null;
  /** Per-field problems of a 422: where (`["body", "hours"]`), what and its kind. */
  errors?: { loc?: string[]; msg?: string; type?: string }[] | null;
};

const CSRF_KEY = "datasoc.csrf";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
type Listener = () => void;
const expiredListeners = new Set<Listener>();

/** Remember the session's CSRF token (answered at sign-in only; kept for this tab). */
export function setCsrf(token: string | null | undefined): void {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

export function csrf(): string | null {
  return sessionStorage.getItem(CSRF_KEY);
}

/** Called when any request answers 401 (the session expired or was ended elsewhere). */
export function onSessionExpired(listener: Listener): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

const session: Middleware = {
  onRequest({ request }) {
    const token = csrf();
    if (!SAFE.has(request.method) && token) request.headers.set("X-CSRF-Token", token);
    return request;
  },
  onResponse({ request, response }) {
    const url = new URL(request.url);
    if (response.status === 401 && !url.pathname.startsWith("/api/v1/session")) {
      expiredListeners.forEach((listener) => listener());
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: "same-origin" });
api.use(session);

/** An error carrying the API's problem document (RFC 9457). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem> | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

/** The data of an openapi-fetch answer, or throw its problem. */
export function unwrap<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.error !== undefined || answer.data === undefined) {
    throw new ApiError(answer.response.status, answer.error as Partial<Problem> | undefined);
  }
  return answer.data;
}

/** Raw fetch for what openapi-fetch does not model (binary bodies and answers). */
export async function rawFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const method = (init.method ?? "GET").toUpperCase();
  const token = csrf();
  if (!SAFE.has(method) && token) headers.set("X-CSRF-Token", token);
  const response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  if (response.status === 401) expiredListeners.forEach((listener) => listener());
  return response;
}

/** Nothing but success expected (204 No Content answers have no data), or throw its problem. */
export function expectOk(answer: { error?: unknown; response: Response }): void {
  if (!answer.response.ok) {
    throw new ApiError(answer.response.status, answer.error as Partial<Problem> | undefined);
  }
}
