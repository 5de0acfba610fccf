// The login page: POST /api/login with the username and password as JSON; on success the
// server sets the session cookie (HttpOnly) and the page returns to ?next= (a path on this
// site only, never another site's address) or to the workspace at "/".
"use strict";

const MESSAGES = {
  bad_credentials: "用户名或密码错误 · Unknown username or wrong password",
  throttled: "失败次数过多，请稍后再试 · Too many failed logins; try again later",
  cross_site: "请求来源不符 · Request from another site refused",
  other: "登录失败 · Login failed",
};

function returnPath() {
  const next = new URLSearchParams(window.location.search).get("next") || "/";
  // Only a path of this site: "//host" and "/\\host" would leave it, and browsers drop tabs and
  // line breaks from addresses ("/\t/host" is "//host").
  return /^\/(?![\/\\])/.test(next) && !/[\s\u0000-\u001f]/.test(next) ? next : "/";
}

function showMessage(text) {
  document.getElementById("message").textContent = text;
}

async function logIn(event) {
  event.preventDefault();
  const button = document.getElementById("submit");
  button.disabled = true;
  showMessage("");
  try {
    const answer = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
      }),
    });
    if (answer.ok) {
      window.location.assign(returnPath());
      return;
    }
    const body = await answer.json().catch(() => ({}));
    const kind = body.detail && body.detail[0] ? body.detail[0].type : "other";
    let text = MESSAGES[kind] || MESSAGES.other;
    const wait = answer.headers.get("Retry-After");
    if (kind === "throttled" && wait) text += ` (${wait} s)`;
    showMessage(text);
    document.getElementById("password").value = "";
  } catch (error) {
    showMessage(`${MESSAGES.other}: ${error}`);
  } finally {
    button.disabled = false;
  }
}

document.getElementById("login").addEventListener("submit", logIn);
document.body.dataset.ready = "1";
