"""The public verification pages a phone opens: ``/v#<QR token>`` and the PDF upload ``/v/pdf``.

``/v`` is one static page for everyone: the QR token sits in the URL fragment, which never reaches
the server, and ``verify.js`` checks it in the browser (WebCrypto ES256): the QR's signature with the
issuer's key and the issuer certificate with the node's issuer CA (``/v/bundle.json``); for a federation
member, the hub-signed trust list (``/trust-list.jws``, verified against the hub roots the node was
configured with) must name that CA and be fresh; and the issuer's signed status list
(``/status/<list>``) must be fresh. Verdicts: green valid; red suspended, revoked, expired,
tampered...; orange "cannot check now" when the trust list or the status list is stale or
unreachable. With scripts off, a form posts the token to ``/v`` and the server answers the same
page, filled in by ``cert_svc.verify.Verifier``.

Nothing about who checked is logged: the edge keeps no access log of these routes and the token is
never written anywhere. The PDF page streams the upload into a bounded temporary file, shows the
seal verdicts (the same verification as VerifyPdf) and deletes it: nothing is stored.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from hutong.edge.errors import too_large
from hutong.edge.http import require_content_type
from hutong.edge.settings import EdgeSettings
from hutong.errors import HutongError, InvalidArgument
from hutong.node import Node

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
TOKEN_LIMIT = 16 * 1024
STATE_NAMES = {
    "valid": ("有效", "valid"), "suspended": ("已暂扣", "suspended"), "cancelled": ("已撤销", "cancelled"),
    "revoked": ("已吊销", "revoked"), "deregistered": ("已注销", "deregistered"), "invalid": ("已失效", "invalid"),
    "transferred_out": ("已转出", "transferred out"),
}
CANNOT_CHECK = {"TRUST_LIST_STALE", "TRUST_LIST_MISSING", "STATUS_LIST_STALE", "STATUS_UNKNOWN"}
FINDING_TEXT = {
    "SIGNATURE_VALID": ("签名有效", "signature verifies"),
    "CHAIN_TRUSTED": ("签发机构证书可信", "issuer certificate trusted"),
    "CHAIN_UNTRUSTED": ("签发机构证书不可信", "issuer certificate not trusted"),
    "ISSUER_AUTHORISED": ("签发机构有权签发此类证照", "issuer authorised for this type"),
    "ISSUER_NOT_AUTHORISED": ("签发机构无权签发此类证照", "issuer not authorised for this type"),
    "STATUS_UNKNOWN": ("暂时无法确认状态", "status cannot be established now"),
    "NOT_YET_VALID": ("尚未生效", "not valid yet"),
    "EXPIRED": ("已超过有效期", "validity has ended"),
}


@dataclass
class Outcome:
    verdict: str  # green / red / orange / none
    headline: tuple[str, str]
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # (zh, en, ok|bad|wait)
    fields: dict[str, str] = field(default_factory=dict)


def check_token(node: Node, token: str) -> Outcome:
    """The scripts-off path: the server's verifier, reported like the page does it."""
    from cert_svc.verify import Verifier

    try:
        result = Verifier(node).token(token)
    except HutongError as err:
        if err.reason in CANNOT_CHECK:
            return Outcome("orange", ("暂时无法核验", "Cannot check now"),
                           [("信任列表或状态信息已过期", err.message, "wait")])
        return Outcome("red", ("核验未通过", "Not valid"),
                       [("签名无效：内容被篡改或伪造", "signature does not verify", "bad")])
    claims = result.claims
    out = Outcome("green", ("证照有效", "Valid"))
    for f in result.findings:
        if f.reason == "CERT_STATUS":
            zh, en = STATE_NAMES.get(result.status or "", ("未知", "unknown"))
            out.checks.append((f"状态：{zh}", f"status: {en}", "bad" if f.fatal else "ok"))
            continue
        zh, en = FINDING_TEXT.get(f.reason, (f.message, f.reason))
        out.checks.append((zh, en, "bad" if f.fatal else ("wait" if f.reason in CANNOT_CHECK else "ok")))
    if result.verdict == "indeterminate":
        out.verdict, out.headline = "orange", ("暂时无法核验", "Cannot check now")
    elif result.verdict == "invalid":
        out.verdict = "red"
        state = result.status if result.status and result.status != "valid" else ""
        if state:
            zh, en = STATE_NAMES.get(state, ("已失效", "invalid"))
            out.headline = (f"证照{zh}", f"Licence {en}")
        elif any(f.reason == "EXPIRED" for f in result.findings):
            out.headline = ("证照已过期", "Expired")
        else:
            out.headline = ("核验未通过", "Not valid")
    out.fields = {"type": str(claims.get("type_name") or claims.get("type", "")),
                  "issuer": str(claims.get("iss_name") or claims.get("iss", "")),
                  "holder": str(claims.get("hn", "—")),
                  "validity": f"{claims.get('valid_from', '')} — {claims.get('valid_until') or '长期 open-ended'}"}
    return out


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def page(node: Node, outcome: Outcome | None = None, *, where: str = "") -> str:
    """The verification page; with an outcome, filled in by the server (scripts-off form)."""
    o = outcome or Outcome("pending", ("正在核验…", "Checking…"))
    rendered = ' data-rendered="server"' if outcome else ""
    checks = "".join(f'<li class="{s}" data-state="{s}">{_e(zh)} · {_e(en)}</li>' for zh, en, s in o.checks)
    f = o.fields
    checked_at = datetime.now(UTC).isoformat(timespec="seconds") if outcome else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>电子证照核验 · Certificate check</title>
<link rel="stylesheet" href="/v/verify.css"><script src="/v/verify.js" defer></script></head>
<body><main>
<h1>电子证照核验 <small>Certificate check</small></h1>
<section id="verdict" class="verdict {o.verdict}" data-verdict="{o.verdict}"{rendered} aria-live="polite">
<p class="zh" id="verdict-zh">{_e(o.headline[0])}</p><p class="en" id="verdict-en">{_e(o.headline[1])}</p></section>
<dl id="fields"{'' if f else ' hidden'}>
<dt>证照类型 <span class="en">Type</span></dt><dd id="f-type">{_e(f.get('type', ''))}</dd>
<dt>签发机构 <span class="en">Issuer</span></dt><dd id="f-issuer">{_e(f.get('issuer', ''))}</dd>
<dt>持证人 <span class="en">Holder</span></dt><dd id="f-holder">{_e(f.get('holder', ''))}</dd>
<dt>有效期 <span class="en">Validity</span></dt><dd id="f-validity">{_e(f.get('validity', ''))}</dd>
</dl>
<h2 class="meta">核验步骤 <span class="en">Checks</span></h2>
<ol id="checklist">{checks}</ol>
<p class="meta">核验时间 <span class="en">Checked at</span> <span id="checked-at">{_e(checked_at)}</span><br>
核验节点 <span class="en">Checked by</span> <span id="checked-where">{_e(where or node.config.node.name)}</span></p>
<p class="meta">请与纸质证照上的信息比对。<span class="en">Compare with the paper licence.</span>
<a href="/v/pdf">核验盖章 PDF · Check a sealed PDF</a></p>
<noscript><form method="post" action="/v">
<label>未启用脚本：请粘贴二维码内容 <span class="en">Scripts are off: paste the QR content</span>
<textarea name="token" required></textarea></label><button type="submit">核验 Check</button></form></noscript>
</main></body></html>
"""


def pdf_page(rows: list[dict[str, str]] | None = None, verdict: str = "", error: str = "") -> str:
    table = ""
    if rows is not None:
        body = "".join(f"<tr><td>{_e(r['field'])}</td><td>{_e(r['org'])}</td><td>{_e(r['time'])}</td>"
                       f"<td data-verdict=\"{_e(r['verdict'])}\">{_e(r['verdict_zh'])}</td></tr>" for r in rows)
        table = (f'<section id="verdict" class="verdict {_e(verdict)}" data-verdict="{_e(verdict)}">'
                 f'<p class="zh">{"文件印章有效" if verdict == "green" else "文件印章未通过核验"}</p></section>'
                 "<table><thead><tr><th>签名域</th><th>盖章单位</th><th>时间</th><th>结论</th></tr></thead>"
                 f"<tbody>{body}</tbody></table>")
    err = f'<p class="verdict red" id="error">{_e(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>盖章文件核验 · Sealed PDF check</title><link rel="stylesheet" href="/v/verify.css"></head>
<body><main><h1>盖章文件核验 <small>Sealed PDF check</small></h1>{err}{table}
<form method="post" action="/v/pdf" enctype="multipart/form-data">
<label>选择 PDF 文件 <span class="en">Choose a PDF</span>
<input type="file" name="pdf" accept="application/pdf" required></label>
<button type="submit">核验 Check</button></form>
<p class="meta">文件只用于本次核验，不会被保存。
<span class="en">The file is checked and discarded, never stored.</span></p>
</main></body></html>
"""


_VERDICT_ZH = {"valid": "有效", "invalid": "无效", "indeterminate": "无法确定"}


def _pdf_rows(report: Any) -> tuple[list[dict[str, str]], str]:
    rows = [{"field": s.field_name, "org": f"{s.org_name} {s.org_uscc}".strip() or "—",
             "time": s.signing_time.isoformat(timespec="seconds") if s.signing_time else "—",
             "verdict": s.verdict.value, "verdict_zh": _VERDICT_ZH[s.verdict.value]} for s in report.signatures]
    colour = {"valid": "green", "invalid": "red"}.get(report.verdict.value, "orange")
    return rows, colour


def _static(name: str) -> bytes:
    return resources.files("hutong.edge").joinpath("static", name).read_bytes()


def routes(node: Node, settings: EdgeSettings) -> list[BaseRoute]:
    from hutong.edge.public import cached

    js, css = _static("verify.js"), _static("verify.css")
    where = node.config.node.name

    async def show(request: Request) -> Response:
        return HTMLResponse(page(node, where=where), headers={"cache-control": "public, max-age=300"})

    async def fallback(request: Request) -> Response:
        require_content_type(request, (FORM,))
        form = await _bounded(request, TOKEN_LIMIT).form(max_files=0, max_fields=1)
        token = str(form.get("token", "")).strip()
        token = token.split("#", 1)[1] if "#" in token else token  # the whole QR URL pasted
        if not token:
            raise InvalidArgument("JWS_MALFORMED", "paste the content of the QR code")
        outcome = await to_thread.run_sync(check_token, node, token)
        return HTMLResponse(page(node, outcome, where=where), headers={"cache-control": "no-store"})

    async def script(request: Request) -> Response:
        return cached(request, js, "text/javascript", settings.cache_seconds)

    async def style(request: Request) -> Response:
        return cached(request, css, "text/css", settings.cache_seconds)

    async def pdf_form(request: Request) -> Response:
        return HTMLResponse(pdf_page())

    async def pdf_check(request: Request) -> Response:
        require_content_type(request, (MULTIPART,))
        form = await _bounded(request, settings.max_upload_bytes + 64 * 1024).form(max_files=1, max_fields=1)
        upload = form.get("pdf")
        if upload is None or isinstance(upload, str):
            raise InvalidArgument("PDF_MALFORMED", "choose a PDF file to check")
        try:
            report = await to_thread.run_sync(_verify_upload, node, upload.file, settings.max_upload_bytes)
        except HutongError as err:
            return HTMLResponse(pdf_page(error=f"{err.reason}: {err.message}"), status_code=400,
                                headers={"cache-control": "no-store"})
        finally:
            await upload.close()
        rows, colour = _pdf_rows(report)
        return HTMLResponse(pdf_page(rows, colour), headers={"cache-control": "no-store"})

    return [
        Route("/v", show, methods=["GET"]),
        Route("/v", fallback, methods=["POST"]),
        Route("/v/verify.js", script, methods=["GET"]),
        Route("/v/verify.css", style, methods=["GET"]),
        Route("/v/pdf", pdf_form, methods=["GET"]),
        Route("/v/pdf", pdf_check, methods=["POST"]),
    ]


def _verify_upload(node: Node, file: Any, limit: int) -> Any:
    from hutong.verify.pdf import verify_chunks
    from seal_svc.settings import load_settings
    from seal_svc.trust import node_trust

    seal = load_settings(node)

    def chunks() -> Iterator[bytes]:
        while block := file.read(1 << 20):
            yield block

    return verify_chunks(chunks(), node_trust(node, crl_hours=seal.crl_hours), limit=limit, temp_dir=seal.temp_dir)


def _bounded(request: Request, limit: int) -> Request:
    """The request with a receive channel that refuses bodies past ``limit`` (HTTP_BODY_TOO_LARGE)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return Request(request.scope, receive)
