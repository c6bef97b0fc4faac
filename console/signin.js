// #/signin: username and password, against the local token endpoint or Cognito (config.json).

import { NewPasswordRequired, signIn } from "./auth.js";
import { h, replace } from "./dom.js";

let notice = null;

/** A line shown above the form next time (signed out, session ended). */
export function setNotice(message) {
  notice = message;
}

export async function render(ctx) {
  document.title = "Sign in · humwatch";
  const error = h("p", { class: "form-error", id: "signin-error", role: "alert", hidden: true });
  const username = h("input", {
    id: "username", name: "username", autocomplete: "username", required: true, autocapitalize: "none",
    spellcheck: "false",
  });
  const password = h("input", {
    id: "password", name: "password", type: "password", autocomplete: "current-password", required: true,
  });
  const newPassword = h("input", {
    id: "new-password", name: "new-password", type: "password", autocomplete: "new-password",
  });
  const newPasswordField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { for: "new-password" }, "New password (first sign-in)"),
    newPassword,
  );
  const submit = h("button", { type: "submit", class: "primary", id: "signin-submit" }, "Sign in");
  let challengeSession = null;

  const form = h(
    "form",
    { class: "card signin", id: "signin-form", "aria-describedby": "signin-error" },
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), username),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), password),
    newPasswordField,
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await signIn(ctx.config, {
        username: username.value.trim(),
        password: password.value,
        newPassword: challengeSession ? newPassword.value : null,
        session: challengeSession,
      });
      notice = null;
      await ctx.signedIn();
    } catch (err) {
      if (err instanceof NewPasswordRequired) {
        challengeSession = err.session;
        newPasswordField.hidden = false;
        newPassword.required = true;
        newPassword.focus();
      }
      replace(error, err.message);
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });

  replace(
    ctx.main,
    h("h1", { tabindex: -1 }, "Sign in"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h("p", { class: "muted" }, ctx.config.auth.type === "local"
      ? "Local stack: the viewer and operator passwords are in local-stack.json (console_users)."
      : "Sign in with the account an administrator created for you."),
    form,
  );
  username.focus();
}
