#!/usr/bin/env node
// A Hutong client in Node.js, built at run time from the .proto contract (no generated code):
// a relying platform logs a person in through IdentityService, then checks an e-certificate with
// CertService.Verify. Prints one JSON object on stdout; exit 0 when the certificate is valid, 1 when
// it is not, 2 on an error ({"error": {code, reason, message}}).
//
// Environment: HUTONG_TARGET (host:port, default 127.0.0.1:7443), HUTONG_CLIENT_ID, HUTONG_CLIENT_SECRET,
// HUTONG_ID_NUMBER, HUTONG_PASSWORD, HUTONG_CERT_ID (identifier to verify), optionally HUTONG_TLS_CA
// (PEM file: TLS) and HUTONG_PROTO_DIR (default: ../../proto).
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const env = process.env;
const PROTO_DIR = env.HUTONG_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const DEADLINE_MS = 30000;

function load() {
  const files = ['hutong/identity/v1/identity.proto', 'hutong/cert/v1/cert.proto'];
  const definition = protoLoader.loadSync(files, {
    includeDirs: [PROTO_DIR],
    keepCase: true, // field names as in the .proto (snake_case)
    enums: String, // enum values by name, e.g. "VERDICT_VALID"
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).hutong;
}

function credentials() {
  return env.HUTONG_TLS_CA
    ? grpc.credentials.createSsl(fs.readFileSync(env.HUTONG_TLS_CA))
    : grpc.credentials.createInsecure();
}

// Promise wrapper for a unary call with a deadline and call metadata.
function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + DEADLINE_MS);
    client[method](request, metadata, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

// The stable reason travels in google.rpc.Status (trailer grpc-status-details-bin) as an ErrorInfo;
// the reason is a SCREAMING_SNAKE_CASE string in it, readable without the google.rpc protos.
function reasonOf(err) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  const match = raw && Buffer.from(raw).toString('latin1').match(/\x0a[\x01-\x7f]([A-Z][A-Z0-9_]+)\x12\x0ahutong\.gov/);
  return match ? match[1] : grpc.status[err.code];
}

async function main() {
  const hutong = load();
  const target = env.HUTONG_TARGET || '127.0.0.1:7443';
  const identity = new hutong.identity.v1.IdentityService(target, credentials());
  const certs = new hutong.cert.v1.CertService(target, credentials());

  const platform = new grpc.Metadata();
  platform.set('x-hutong-client-id', env.HUTONG_CLIENT_ID || '');
  platform.set('x-hutong-client-secret', env.HUTONG_CLIENT_SECRET || '');

  const login = await call(identity, 'Login', {
    id_number: env.HUTONG_ID_NUMBER || '',
    password: env.HUTONG_PASSWORD || '',
    scopes: ['openid'],
  }, platform);
  const tokens = login.tokens;

  // Ask the node whether the access token is active (RFC 7662 semantics), as the platform.
  const introspection = await call(identity, 'IntrospectToken', { token: tokens.access_token }, platform);

  // Verify is public: no credentials needed.
  const verification = await call(certs, 'Verify', { identifier: env.HUTONG_CERT_ID || '' }, new grpc.Metadata());

  const out = {
    login: {
      subject: tokens.subject,
      acr: tokens.acr,
      amr: tokens.amr,
      expires_in: tokens.expires_in,
      active: introspection.active,
    },
    certificate: {
      verdict: verification.verdict,
      identifier: verification.certificate ? verification.certificate.identifier : '',
      status: verification.certificate ? verification.certificate.status : '',
      issuer: verification.certificate ? verification.certificate.issuer_name : '',
      findings: verification.findings.map((f) => f.reason),
    },
  };
  console.log(JSON.stringify(out));
  identity.close();
  certs.close();
  return verification.verdict === 'VERDICT_VALID' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(JSON.stringify({ error: { code: grpc.status[err.code] || 'UNKNOWN', reason: reasonOf(err),
      message: err.details || String(err) } }));
    process.exit(2);
  },
);
