// Apollo Client for login-api with the session rules of the README:
// - every request carries `Authorization: Bearer <accessToken>`;
// - the access token is refreshed a few minutes before it expires, and both tokens are replaced;
// - on an HTTP 401 (`WWW-Authenticate: Bearer error="invalid_token"`) the client refreshes once
//   and retries; if that fails too, the member is sent to login (then back where they were).
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, Observable, gql } from "@apollo/client/core";
import type { FetchResult, Operation } from "@apollo/client/core";

export interface TokenStore {
  accessToken: string | null;
  refreshToken: string | null;
  /** Epoch milliseconds when the access token expires. */
  expiresAt: number;
  save(tokens: { accessToken: string; refreshToken: string; expiresIn: number }): void;
  clear(): void;
}

const REFRESH = gql`
  mutation Refresh($refreshToken: String!) {
    refreshSession(refreshToken: $refreshToken) { accessToken refreshToken expiresIn }
  }
`;

/** Refresh when less than this is left of the access token's lifetime. */
const REFRESH_AHEAD_MS = 3 * 60 * 1000;

export function createClient(uri: string, tokens: TokenStore, onSessionEnded: () => void) {
  const http = new HttpLink({ uri });
  // A client without the auth links, for the refresh mutation itself.
  const bare = new ApolloClient({ link: http, cache: new InMemoryCache() });
  let refreshing: Promise<boolean> | null = null;

  /** One refresh at a time; concurrent callers share it (the server's grace window makes a
   *  duplicate harmless, but there is no need to send one). */
  function refresh(): Promise<boolean> {
    if (refreshing) return refreshing;
    const refreshToken = tokens.refreshToken;
    if (!refreshToken) return Promise.resolve(false);
    refreshing = bare
      .mutate({ mutation: REFRESH, variables: { refreshToken } })
      .then(({ data }) => {
        tokens.save(data.refreshSession);
        return true;
      })
      .catch(() => {
        // INVALID_REFRESH_TOKEN, REFRESH_TOKEN_REUSED or MEMBERSHIP_INACTIVE: log in again.
        tokens.clear();
        onSessionEnded();
        return false;
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  const auth = new ApolloLink((operation, forward) =>
    new Observable<FetchResult>((observer) => {
      const ahead = tokens.accessToken && Date.now() > tokens.expiresAt - REFRESH_AHEAD_MS;
      (ahead ? refresh() : Promise.resolve(true)).then(() => {
        withToken(operation);
        forward(operation).subscribe(observer);
      });
    }),
  );

  const retryOn401 = new ApolloLink((operation, forward) =>
    new Observable<FetchResult>((observer) => {
      let retried = false;
      const attempt = () =>
        forward(operation).subscribe({
          next: (result) => observer.next(result),
          complete: () => observer.complete(),
          error: (error) => {
            const status = (error as { statusCode?: number }).statusCode;
            if (status === 401 && !retried) {
              retried = true;
              refresh().then((ok) => {
                if (!ok) return observer.error(error);
                withToken(operation);
                attempt();
              });
            } else {
              observer.error(error);
            }
          },
        });
      attempt();
    }),
  );

  function withToken(operation: Operation) {
    operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
      headers: tokens.accessToken ? { ...headers, Authorization: `Bearer ${tokens.accessToken}` } : headers,
    }));
  }

  return new ApolloClient({ link: ApolloLink.from([retryOn401, auth, http]), cache: new InMemoryCache() });
}
