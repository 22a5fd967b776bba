// Public verification page: checks a licence's QR token in the browser (WebCrypto, ES256) against
// this node's trust bundle, the federation trust list and the issuer's status list.
// The token comes from the URL fragment, which browsers never send to the server.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const enc = new TextEncoder();

  const STATES = {
    valid: ['有效', 'valid'], suspended: ['已暂扣', 'suspended'], cancelled: ['已撤销', 'cancelled'],
    revoked: ['已吊销', 'revoked'], deregistered: ['已注销', 'deregistered'], invalid: ['已失效', 'invalid'],
    transferred_out: ['已转出', 'transferred out'],
  };
  const STATUS_BY_VALUE = {0: 'valid', 1: 'revoked', 2: 'suspended', 3: 'cancelled', 11: 'deregistered',
    12: 'invalid', 13: 'transferred_out'};

  class Stale extends Error {}      // cannot check now (orange)
  class Refused extends Error {}    // definitely not valid (red)

  function b64uBytes(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
    const bin = atob(b64);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  function b64Bytes(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
  function json(bytes) { return JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(bytes)); }
  function hex(buf) { return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join(''); }

  // -- minimal DER reader: enough to find a certificate's TBS, key and signature ----------------
  function tlv(bytes, pos) {
    const tag = bytes[pos];
    let len = bytes[pos + 1];
    let head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + bytes[pos + 2 + i];
      head += n;
    }
    if (pos + head + len > bytes.length) throw new Refused('DER');
    return {tag, start: pos, body: pos + head, end: pos + head + len};
  }
  function children(bytes, node) {
    const out = [];
    for (let p = node.body; p < node.end;) { const c = tlv(bytes, p); out.push(c); p = c.end; }
    return out;
  }
  function parseCert(der) {
    const top = children(der, tlv(der, 0));
    const tbs = top[0];
    let fields = children(der, tbs);
    if (fields[0].tag === 0xa0) fields = fields.slice(1);  // explicit version
    const spki = fields[5];
    const sig = top[2];  // BIT STRING: one byte of unused bits, then ECDSA-Sig-Value
    const seq = tlv(der, sig.body + 1);
    const [r, s] = children(der, seq).map((i) => der.slice(i.body, i.end));
    return {tbs: der.slice(tbs.start, tbs.end), spki: der.slice(spki.start, spki.end), sig: rawSig(r, s)};
  }
  function rawSig(r, s) {
    const fix = (x) => { while (x.length > 32 && x[0] === 0) x = x.slice(1); const o = new Uint8Array(32); o.set(x, 32 - x.length); return o; };
    const out = new Uint8Array(64); out.set(fix(r), 0); out.set(fix(s), 32); return out;
  }
  const ALG = {name: 'ECDSA', hash: 'SHA-256'};
  async function key(spki) {
    return crypto.subtle.importKey('spki', spki, {name: 'ECDSA', namedCurve: 'P-256'}, false, ['verify']);
  }

  async function verifyJws(token, spki) {
    const parts = token.split('.');
    if (parts.length !== 3) throw new Refused('JWS');
    const ok = await crypto.subtle.verify(ALG, await key(spki), b64uBytes(parts[2]), enc.encode(parts[0] + '.' + parts[1]));
    if (!ok) throw new Refused('signature');
    return json(b64uBytes(parts[1]));
  }

  async function fetchJson(url) {
    let r;
    try { r = await fetch(url, {credentials: 'omit', referrerPolicy: 'no-referrer'}); } catch (e) { throw new Stale(url); }
    if (!r.ok) throw new Stale(url);
    return r;
  }

  async function statusValue(lst, idx) {
    const ds = new DecompressionStream('deflate');  // zlib, as the status list is compressed
    const stream = new Blob([b64uBytes(lst)]).stream().pipeThrough(ds);
    const data = new Uint8Array(await new Response(stream).arrayBuffer());
    const perByte = 2;  // 4 bits per entry
    if (idx < 0 || Math.floor(idx / perByte) >= data.length) throw new Refused('status index');
    return (data[Math.floor(idx / perByte)] >> ((idx % perByte) * 4)) & 0x0f;
  }

  // The federation trust list, verified here: signed (ES256) by a certificate issued by one of the hub
  // roots this node was configured with. Unreachable or unverifiable: cannot check now.
  async function trustList(tl) {
    let text;
    try { text = (await (await fetchJson('/trust-list.jws')).text()).trim(); } catch (e) {
      check('无法获取信任列表，暂时无法核验', 'trust list unreachable', 'wait'); throw e;
    }
    const x5c = (json(b64uBytes(text.split('.')[0])).x5c || []).map(b64uBytes);
    const signer = x5c.length ? parseCert(x5c[0]) : null;
    let trusted = false;
    for (const root of (tl.hub_roots || []).map(b64Bytes)) {
      if (signer && await crypto.subtle.verify(ALG, await key(parseCert(root).spki), signer.sig, signer.tbs)) trusted = true;
    }
    const list = trusted ? await verifyJws(text, signer.spki).catch(() => null) : null;
    if (!list) { check('信任列表签名无法验证，暂时无法核验', 'trust list signature cannot be verified', 'wait'); throw new Stale('trust list'); }
    return list;
  }
  async function memberFor(list, caPrint) {
    for (const m of list.members || []) {
      const der = b64Bytes(String(m.issuer_ca).replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
      if (hex(await crypto.subtle.digest('SHA-256', der)) === caPrint) return m;
    }
    return null;
  }

  // -- rendering --------------------------------------------------------------------------------
  const items = [];
  function check(zh, en, state) {
    items.push({zh, en, state});
    const li = document.createElement('li');
    li.className = state;
    li.dataset.state = state;
    li.textContent = zh + ' · ' + en;
    $('checklist').appendChild(li);
  }
  function field(id, text) { $(id).textContent = text; }
  function verdict(kind, zh, en) {
    const box = $('verdict');
    box.className = 'verdict ' + kind;
    box.dataset.verdict = kind;
    field('verdict-zh', zh);
    field('verdict-en', en);
    const now = new Date();
    field('checked-at', now.toLocaleString('zh-CN', {hour12: false}) + ' (' + now.toISOString() + ')');
  }

  async function run() {
    const token = decodeURIComponent(location.hash.replace(/^#/, ''));
    if (!token) { verdict('none', '请扫描证照上的二维码', 'Scan the QR code on the licence'); return; }
    const [h, p] = token.split('.');
    let header, claims;
    try { header = json(b64uBytes(h)); claims = json(b64uBytes(p)); } catch (e) { throw new Refused('unreadable'); }

    const bundle = await (await fetchJson('/v/bundle.json')).json();
    field('checked-where', bundle.node.name + ' (' + location.host + ')');
    const issuer = bundle.issuers.find((i) => i.kid === header.kid);
    if (!issuer) { check('签发机构未知', 'issuer not known to this node', 'bad'); throw new Refused('issuer'); }
    const chain = issuer.chain.map(b64Bytes);

    // 1. the QR's signature, by the issuer's key
    const leaf = parseCert(chain[0]);
    const verified = await verifyJws(token, leaf.spki).catch(() => null);
    if (!verified) { check('签名无效：内容被篡改或伪造', 'signature does not verify: altered or forged', 'bad'); throw new Refused('signature'); }
    check('签名有效：由 ' + issuer.name + ' 签发', 'signed by ' + issuer.name, 'ok');
    field('f-type', (bundle.types[claims.type] || claims.type));
    field('f-issuer', issuer.name);
    field('f-holder', claims.hn || '—');
    field('f-validity', claims.valid_from + ' — ' + (claims.valid_until || '长期 open-ended'));
    $('fields').hidden = false;

    // 2. the issuer certificate, by the node's issuer CA, which the trust list names
    const ca = parseCert(chain[1]);
    const caOk = await crypto.subtle.verify(ALG, await key(ca.spki), leaf.sig, leaf.tbs);
    const caPrint = hex(await crypto.subtle.digest('SHA-256', chain[1]));
    if (!caOk || caPrint !== bundle.issuer_ca_sha256 || !issuer.types.includes(claims.type)) {
      check('签发机构证书不可信或无权签发此类证照', 'issuer certificate not trusted for this type', 'bad');
      throw new Refused('chain');
    }
    const tl = bundle.trust_list;
    if (tl) {
      const list = await trustList(tl);
      const member = await memberFor(list, caPrint);
      if (Date.now() / 1000 > list.next_update + tl.grace_seconds) {
        check('信任列表已过期，暂时无法核验', 'trust list is stale', 'wait'); throw new Stale('trust list');
      }
      if (!member) { check('签发节点不在信任列表中', 'issuing node not in the trust list', 'bad'); throw new Refused('member'); }
      check('签发节点 ' + member.name + ' 见于信任列表第 ' + list.seq + ' 版', 'issuing node found in trust list sequence ' + list.seq, 'ok');
    } else {
      check('签发机构证书由本节点 ' + bundle.node.name + ' 认证', 'issuer certified by node ' + bundle.node.name, 'ok');
    }

    // 3. status, from the issuer's signed status list while it is fresh
    const ref = (claims.status || {}).status_list || {};
    let list;
    try {
      const text = await (await fetchJson('/status/' + encodeURIComponent(ref.uri))).text();
      list = await verifyJws(text.trim(), leaf.spki);
    } catch (e) {
      if (e instanceof Refused) { check('状态列表签名无效', 'status list signature invalid', 'wait'); throw new Stale('status'); }
      check('无法获取状态信息，暂时无法核验', 'status list unreachable', 'wait');
      throw e;
    }
    if (list.sub !== ref.uri || Date.now() / 1000 >= list.iat + list.ttl) {
      check('状态信息已过期，暂时无法核验', 'status list is stale', 'wait'); throw new Stale('status');
    }
    const state = STATUS_BY_VALUE[await statusValue(list.status_list.lst, ref.idx)] || 'invalid';
    const names = STATES[state];
    const when = new Date(list.iat * 1000).toLocaleString('zh-CN', {hour12: false});
    check('状态：' + names[0] + '（状态列表更新于 ' + when + '）', 'status: ' + names[1] + ' (fresh)', state === 'valid' ? 'ok' : 'bad');
    if (state !== 'valid') { verdict('red', '证照' + names[0], 'Licence ' + names[1]); return; }

    // 4. validity dates
    const today = new Date().toISOString().slice(0, 10);
    if (claims.valid_from > today) { check('尚未生效', 'not valid yet', 'bad'); verdict('red', '证照尚未生效', 'Not valid yet'); return; }
    if (claims.valid_until && claims.valid_until < today) {
      check('已超过有效期', 'validity has ended', 'bad'); verdict('red', '证照已过期', 'Expired'); return;
    }
    check('在有效期内', 'within its validity', 'ok');
    verdict('green', '证照有效', 'Valid');
  }

  document.addEventListener('DOMContentLoaded', () => {
    if ($('verdict').dataset.rendered === 'server') return;  // the server already answered (scripts-off form)
    run().catch((e) => {
      if (e instanceof Refused) verdict('red', '核验未通过', 'Not valid');
      else verdict('orange', '暂时无法核验', 'Cannot check now');
    });
  });
})();
