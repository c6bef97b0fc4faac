// Signing in: the local stack's token endpoint, or Cognito's InitiateAuth (USER_PASSWORD_AUTH) in
// AWS. The ID token lives in sessionStorage only: it is gone when the tab closes.

const TOKEN_KEY = "humwatch.id_token";

export class SignInError extends Error {}

/** A Cognito user created by an admin must choose a new password before the first sign-in. */
export class NewPasswordRequired extends Error {
  constructor(session) {
    super("choose a new password to finish signing in");
    this.session = session;
  }
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

/** The stored token, unless it has expired (the API would answer 401 anyway). */
export function currentToken() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const payload = claims(token);
  if (!payload || (payload.exp && payload.exp * 1000 <= Date.now())) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return token;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function postJson(url, body, headers) {
  let response;
  try {
    response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), cache: "no-store" });
  } catch (err) {
    throw new SignInError(`network error: cannot reach the sign-in service (${err.message})`);
  }
  const payload = await response.json().catch(() => ({}));
  return { response, payload };
}

async function localSignIn(auth, username, password) {
  const { response, payload } = await postJson(
    auth.tokenUrl,
    { username, password },
    { "Content-Type": "application/json" },
  );
  if (!response.ok || !payload.id_token) {
    throw new SignInError(response.status === 401 || response.status === 403
      ? "wrong username or password"
      : payload.message || `sign-in failed (HTTP ${response.status})`);
  }
  return payload.id_token;
}

async function cognito(auth, target, body) {
  const { response, payload } = await postJson(`https://cognito-idp.${auth.region}.amazonaws.com/`, body, {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
  });
  if (!response.ok) {
    const type = String(payload.__type || "").split("#").pop();
    if (type === "NotAuthorizedException" || type === "UserNotFoundException") {
      throw new SignInError("wrong username or password");
    }
    throw new SignInError(payload.message || `sign-in failed (HTTP ${response.status})`);
  }
  if (payload.ChallengeName === "NEW_PASSWORD_REQUIRED") throw new NewPasswordRequired(payload.Session);
  if (payload.ChallengeName) throw new SignInError(`sign-in needs ${payload.ChallengeName}, which the console does not support`);
  return payload.AuthenticationResult.IdToken;
}

/** Sign in and keep the ID token; newPassword answers Cognito's NEW_PASSWORD_REQUIRED challenge. */
export async function signIn(config, { username, password, newPassword = null, session = null }) {
  const auth = config.auth;
  let token;
  if (auth.type === "local") {
    token = await localSignIn(auth, username, password);
  } else if (auth.type === "cognito" && newPassword) {
    token = await cognito(auth, "RespondToAuthChallenge", {
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      ClientId: auth.clientId,
      Session: session,
      ChallengeResponses: { USERNAME: username, NEW_PASSWORD: newPassword },
    });
  } else if (auth.type === "cognito") {
    token = await cognito(auth, "InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: auth.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
  } else {
    throw new SignInError(`config.json names an unknown auth type ${auth.type}`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  return token;
}
