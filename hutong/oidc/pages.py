"""The provider's HTML pages: login (password, TOTP, holder-key challenge), choosing an organisation,
logout, errors. Chinese first with English after; one column that fits a phone; one same-origin stylesheet (no external
resource of any kind, see ``CSP``); every form carries the CSRF token. Values are HTML-escaped; an ID number
is only ever in a form field the person typed it into, never in a URL.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlsplit

STYLESHEET = "/oidc/static/login.css"


def csp(redirect_uri: str = "") -> str:
    """The edge's policy, but ``form-action`` also allows the platform's redirect origin: browsers apply it to the
    redirect that answers a login form post, which goes back to the platform."""
    parts = urlsplit(redirect_uri)
    back = f" {parts.scheme}://{parts.netloc}" if redirect_uri and parts.scheme in ("https", "http") else ""
    return ("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
            f"form-action 'self'{back}")


CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;background:#f4f5f7;color:#222}
main{max-width:26rem;margin:0 auto;padding:1.2rem}
h1{font-size:1.3rem;color:#b71c1c}
.card{background:#fff;border-radius:.6rem;padding:1rem;box-shadow:0 1px 3px #0002;margin-bottom:1rem}
label{display:block;margin:.7rem 0 .2rem;font-weight:600}
small,.en{color:#666;font-weight:400}
input,textarea,select{width:100%;box-sizing:border-box;font-size:1.05rem;padding:.6rem;border:1px solid #bbb;
border-radius:.4rem}
button{width:100%;font-size:1.05rem;padding:.7rem;margin-top:1rem;border:0;border-radius:.4rem;background:#b71c1c;
color:#fff}
button.secondary{background:#eee;color:#222}
.error{background:#fdecea;color:#8a1c14;padding:.6rem;border-radius:.4rem}
pre{white-space:pre-wrap;word-break:break-all;background:#f0f0f0;padding:.5rem;font-size:.85rem}
"""


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{escape(title)}</title><link rel="stylesheet" href="{STYLESHEET}"></head>'
            f"<body><main>{body}</main></body></html>")


def _hidden(**values: str) -> str:
    return "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in values.items())


def _error(message: str) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


LEVEL_NAMES = {"low": "低 low", "substantial": "较高 substantial", "high": "高 high"}


def login(*, platform_name: str, tx: str, csrf: str, required_acr: str, error: str = "", step_up: bool = False,
          challenge: dict[str, Any] | None = None, id_number: str = "",
          home_nodes: list[tuple[str, str]] | None = None) -> str:
    second = required_acr == "high" or step_up or challenge is not None
    fields = (f'<label for="id_number">证件号码 <span class="en">ID number</span></label>'
              f'<input id="id_number" name="id_number" autocomplete="username" required maxlength="18" '
              f'value="{escape(id_number)}">'
              f'<label for="password">密码 <span class="en">Password</span></label>'
              f'<input id="password" name="password" type="password" autocomplete="current-password" required>')
    if challenge is not None:
        fields += (_hidden(challenge_id=challenge["challenge_id"])
                   + '<label>请用您的证书密钥签名以下挑战 '
                   + '<span class="en">Sign this challenge with your key</span></label>'
                   + f'<pre id="challenge">{escape(challenge["to_sign_b64"])}</pre>'
                   + '<label for="signature">签名（Base64） <span class="en">Signature (base64)</span></label>'
                   + '<textarea id="signature" name="signature" rows="3" required></textarea>')
    elif second:
        fields += ('<label for="totp_code">动态口令 <span class="en">One-time code</span></label>'
                   '<input id="totp_code" name="totp_code" inputmode="numeric" autocomplete="one-time-code" '
                   'maxlength="8">')
    form = (f'<form method="post" action="login">{_hidden(tx=tx, csrf=csrf)}{fields}'
            f'<button type="submit" name="action" value="login">登录 <span>Log in</span></button>')
    if second and challenge is None:
        form += ('<button class="secondary" type="submit" name="action" value="challenge" formnovalidate>'
                 '使用证书密钥（UKey） <span>Use my key instead</span></button>')
    if home_nodes:
        options = "".join(f'<option value="{escape(node_id)}">{escape(name)}</option>' for node_id, name in home_nodes)
        form += ('<label for="home">在我的归属节点登录 <span class="en">Log in at my home node</span></label>'
                 f'<select id="home" name="home">{options}</select>'
                 '<button class="secondary" type="submit" name="action" value="home" formnovalidate>'
                 '前往归属节点登录 <span>Go to my home node</span></button>')
    form += "</form>"
    notice = ""
    if second:
        notice = ('<p>该平台要求高等级身份认证：密码加动态口令或证书密钥。'
                  '<span class="en">This platform requires level high: password plus a one-time code or your key.'
                  '</span></p>')
    body = (f"<h1>统一身份认证 <span class=\"en\">Sign in</span></h1>"
            f'<div class="card"><p>登录到 <b>{escape(platform_name)}</b> '
            f'<span class="en">to continue to this platform</span></p>'
            f'<p><small>认证等级 Level: {escape(LEVEL_NAMES.get(required_acr, required_acr))}</small></p>'
            f"{notice}{_error(error)}{form}</div>")
    return page("登录 Sign in", body)


def continue_to(*, url: str, node_name: str, fields: dict[str, str]) -> str:
    """The home node's answer: the browser carries the assertion to the visited node (a button: no script)."""
    body = ('<h1>身份已确认 <span class="en">Signed in at your home node</span></h1><div class="card">'
            f'<p>返回 <b>{escape(node_name)}</b> 继续办理。<span class="en">Continue at that node.</span></p>'
            f'<form method="post" action="{escape(url)}">{_hidden(**fields)}'
            '<button type="submit">继续 <span>Continue</span></button></form></div>')
    return page("继续 Continue", body)


def choose_organisation(*, tx: str, csrf: str, person_label: str, organisations: list[tuple[str, str]],
                        error: str = "") -> str:
    buttons = "".join(
        f'<button type="submit" name="org" value="{escape(uscc)}">代表 {escape(name)} 办理 '
        f'<span>act for this organisation</span></button>' for uscc, name in organisations)
    body = (f"<h1>选择办事身份 <span class=\"en\">Act as</span></h1>{_error(error)}"
            f'<div class="card"><form method="post" action="organisation">{_hidden(tx=tx, csrf=csrf)}'
            f'<button class="secondary" type="submit" name="org" value="">以个人身份办理 '
            f'<span>myself ({escape(person_label)})</span></button>{buttons}</form></div>')
    return page("选择办事身份 Act as", body)


def logout_confirm(*, csrf: str, params: dict[str, str]) -> str:
    body = ('<h1>退出登录 <span class="en">Log out</span></h1><div class="card">'
            '<p>确定要退出统一身份认证吗？您在所有平台的登录都将结束。'
            '<span class="en">Log out? Your sessions at every platform will end.</span></p>'
            f'<form method="post" action="logout">{_hidden(csrf=csrf, confirm="yes", **params)}'
            '<button type="submit">退出 <span>Log out</span></button></form></div>')
    return page("退出登录 Log out", body)


def logged_out() -> str:
    return page("已退出 Logged out", '<h1>已退出 <span class="en">Logged out</span></h1>'
                '<div class="card"><p>您已安全退出。<span class="en">You are logged out.</span></p></div>')


def error(title_zh: str, message: str) -> str:
    return page(f"{title_zh} Error", f'<h1>{escape(title_zh)} <span class="en">Error</span></h1>'
                f'<div class="card">{_error(message)}<p><small>请返回平台重新开始。Go back to the platform and '
                f"start again.</small></p></div>")
