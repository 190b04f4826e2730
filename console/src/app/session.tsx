// Who is signed in: the session from `GET /api/v1/session`, refreshed after each sign-in step.
// A 401 from any request (idle or absolute expiry, sign-out elsewhere) returns to the sign-in
// page with a notice, keeping the address so the person lands where they were.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, onSessionExpired, setCsrf, type Schemas } from "../api/client";

export type SessionInfo = Schemas["SessionPublic"];

type SessionState = {
  session: SessionInfo | null;
  loading: boolean;
  expired: boolean;
  refresh: () => Promise<void>;
  accept: (session: SessionInfo) => void;
  signOut: () => Promise<void>;
  can: (permission: string | undefined) => boolean;
};

const Context = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionInfo | null>(null);
  const [loading, setLoading] = useState(true);
  const [expired, setExpired] = useState(false);

  const refresh = useCallback(async () => {
    const answer = await api.GET("/api/v1/session");
    setSession(answer.data ?? null);
    setLoading(false);
  }, []);

  useEffect(() => {
    void refresh();
    return onSessionExpired(() => {
      setSession((current) => {
        if (current) setExpired(true);
        return null;
      });
      setCsrf(null);
    });
  }, [refresh]);

  const accept = useCallback((next: SessionInfo) => {
    if (next.csrf_token) setCsrf(next.csrf_token);
    setExpired(false);
    setSession(next);
  }, []);

  const signOut = useCallback(async () => {
    await api.DELETE("/api/v1/session");
    setCsrf(null);
    setSession(null);
  }, []);

  const can = useCallback(
    (permission: string | undefined) =>
      permission === undefined || (session?.stage === "full" && session.permissions.includes(permission)),
    [session],
  );

  return (
    <Context.Provider value={{ session, loading, expired, refresh, accept, signOut, can }}>
      {children}
    </Context.Provider>
  );
}

export function useSession(): SessionState {
  const value = useContext(Context);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}
