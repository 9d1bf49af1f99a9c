// Microsoft's JavaScript Graph client (@microsoft/microsoft-graph-client,
// pinned in tests/conformance/entra/package-lock.json), unmodified, against
// `clientops emulate entra` over https. Run by tests/conformance/run-entra,
// which sets:
//   CLIENTOPS_EMULATOR_HTTPS  https://127.0.0.1:PORT (Graph and login base URL)
//   CLIENTOPS_EMULATOR_ADMIN  http://127.0.0.1:PORT/__emulator
//   CLIENTOPS_NODE_DIR        the cached npm install
//   NODE_EXTRA_CA_CERTS       the emulator's CA certificate
// Prints one line per step and a summary "N passed" (or "N passed, M failed").
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.CLIENTOPS_NODE_DIR, "package.json"));
const { Client, PageIterator, ResponseType, GraphError } = require("@microsoft/microsoft-graph-client");

const HTTPS = process.env.CLIENTOPS_EMULATOR_HTTPS;
const ADMIN = process.env.CLIENTOPS_EMULATOR_ADMIN;
const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
const host = new URL(HTTPS).hostname;

async function admin(p, body) {
  const r = await fetch(`${ADMIN}${p}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  assert.equal(r.status, 201, `admin ${p}: ${r.status}`);
  return r.json();
}

// The token endpoint, with plain fetch, as an app would call login.microsoftonline.com.
async function tokenRequest(tenant, clientId, secret) {
  const r = await fetch(`${HTTPS}/${tenant}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: secret,
      scope: GRAPH_SCOPE,
    }),
  });
  return { status: r.status, body: await r.json() };
}

function graphClient(tenant, clientId, secret) {
  let cached = null;
  const authProvider = {
    getAccessToken: async () => {
      if (!cached) {
        const t = await tokenRequest(tenant, clientId, secret);
        assert.equal(t.status, 200, JSON.stringify(t.body));
        cached = t.body.access_token;
      }
      return cached;
    },
  };
  return Client.initWithMiddleware({
    authProvider,
    baseUrl: `${HTTPS}/`,
    customHosts: new Set([host]),
  });
}

const steps = [];
const step = (name, fn) => steps.push({ name, fn });

const state = {};

step("a tenant and operator identities from the admin API", async () => {
  const t = await admin("/tenants", {});
  state.tenant = t.tenantId;
  state.op = t.operator;
  state.reader = await admin(`/tenants/${t.tenantId}/operators`, {
    roles: ["Application.Read.All", "Application.ReadWrite.OwnedBy"],
  });
  state.client = graphClient(state.tenant, state.op.appId, state.op.clientSecret);
  state.readerClient = graphClient(state.tenant, state.reader.appId, state.reader.clientSecret);
});

step("upsert by uniqueName with Prefer: create-if-missing creates (201, body)", async () => {
  const raw = await state.client
    .api("/applications(uniqueName='js-conformance')")
    .header("Prefer", "create-if-missing")
    .responseType(ResponseType.RAW)
    .patch({
      displayName: "JS conformance",
      web: { redirectUris: ["https://js.example/cb"] },
      tags: ["clientops.dev/conformance"],
    });
  assert.equal(raw.status, 201);
  const body = await raw.json();
  assert.equal(body.uniqueName, "js-conformance");
  assert.equal(body.signInAudience, "AzureADMyOrg");
  assert.deepEqual(body.web.redirectUris, ["https://js.example/cb"]);
  state.id = body.id;
  state.appId = body.appId;
});

step("the same upsert again updates (204, no body)", async () => {
  const raw = await state.client
    .api("/applications(uniqueName='js-conformance')")
    .header("Prefer", "create-if-missing")
    .responseType(ResponseType.RAW)
    .patch({ displayName: "JS conformance 2" });
  assert.equal(raw.status, 204);
});

step("get by id and by uniqueName, with $select", async () => {
  const byId = await state.client.api(`/applications/${state.id}`).select("id,displayName,appId").get();
  assert.deepEqual(Object.keys(byId).filter((k) => !k.startsWith("@")).sort(), ["appId", "displayName", "id"]);
  assert.equal(byId.displayName, "JS conformance 2");
  const byName = await state.client.api("/applications(uniqueName='js-conformance')").get();
  assert.equal(byName.id, state.id);
});

step("a missing application is a GraphError 404 Request_ResourceNotFound", async () => {
  try {
    await state.client.api("/applications(uniqueName='does-not-exist')").get();
    assert.fail("expected a GraphError");
  } catch (e) {
    assert.ok(e instanceof GraphError, String(e));
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, "Request_ResourceNotFound");
    assert.ok(e.requestId, "the SDK read innerError.request-id");
    assert.ok(e.date instanceof Date && !Number.isNaN(e.date.getTime()), "the SDK read innerError.date");
  }
});

step("list with $top pages through @odata.nextLink with PageIterator", async () => {
  for (let i = 0; i < 4; i++) {
    await state.client
      .api(`/applications(uniqueName='js-page-${i}')`)
      .header("Prefer", "create-if-missing")
      .patch({ displayName: `js-page-${i}` });
  }
  const first = await state.client.api("/applications").top(2).select("displayName").get();
  assert.equal(first.value.length, 2);
  assert.ok(first["@odata.nextLink"].startsWith(`${HTTPS}/v1.0/applications?`), first["@odata.nextLink"]);
  const names = [];
  const it = new PageIterator(state.client, first, (app) => {
    names.push(app.displayName);
    return true;
  });
  await it.iterate();
  assert.deepEqual(names, ["JS conformance 2", "js-page-0", "js-page-1", "js-page-2", "js-page-3"]);
});

step("list with $filter", async () => {
  const r = await state.client
    .api("/applications")
    .filter("startswith(displayName,'js-page-')")
    .select("displayName")
    .get();
  assert.equal(r.value.length, 4);
});

step("a 429 with Retry-After is retried by the client's RetryHandler", async () => {
  const put = await fetch(`${ADMIN}/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ p_429: 1, times: 1, methods: ["GET"], path: `/v1.0/applications/${state.id}` }),
  });
  assert.equal(put.status, 200);
  await fetch(`${ADMIN}/requests`, { method: "DELETE" });
  const got = await state.client.api(`/applications/${state.id}`).get();
  assert.equal(got.id, state.id);
  const log = await (await fetch(`${ADMIN}/requests`)).json();
  assert.equal(log.operations.get.by_status["429"], 1, JSON.stringify(log.operations));
  assert.equal(log.operations.get.by_status["200"], 1, JSON.stringify(log.operations));
});

step("patch by id (204) changes what get returns", async () => {
  await state.client.api(`/applications/${state.id}`).patch({ notes: "patched by the JS Graph client" });
  const got = await state.client.api(`/applications/${state.id}`).get();
  assert.equal(got.notes, "patched by the JS Graph client");
});

step("patch cannot set passwordCredentials (GraphError 400)", async () => {
  await assert.rejects(
    state.client.api(`/applications/${state.id}`).patch({ passwordCredentials: [] }),
    (e) => e.statusCode === 400 && e.code === "Request_BadRequest",
  );
});

step("create the service principal (201); again is 409", async () => {
  const sp = await state.client.api("/servicePrincipals").post({ appId: state.appId });
  assert.equal(sp.appId, state.appId);
  await assert.rejects(
    state.client.api("/servicePrincipals").post({ appId: state.appId }),
    (e) => e.statusCode === 409 && e.code === "Request_MultipleObjectsWithSameKeyValue",
  );
  const found = await state.client.api("/servicePrincipals").filter(`appId eq '${state.appId}'`).get();
  assert.equal(found.value.length, 1);
});

step("addPassword returns secretText once", async () => {
  const p = await state.client
    .api(`/applications/${state.id}/addPassword`)
    .post({ passwordCredential: { displayName: "clientops-conformance" } });
  assert.ok(p.secretText && p.secretText.length >= 16);
  assert.equal(p.hint, p.secretText.slice(0, 3));
  assert.equal(p.displayName, "clientops-conformance");
  const years = (Date.parse(p.endDateTime) - Date.parse(p.startDateTime)) / (365 * 86400e3);
  assert.ok(years > 1.99 && years < 2.01, String(years));
  state.secret = p.secretText;
  state.keyId = p.keyId;
  const got = await state.client.api(`/applications/${state.id}`).get();
  assert.equal(got.passwordCredentials.length, 1);
  assert.equal(got.passwordCredentials[0].secretText, null);
});

step("the new secret gets a token", async () => {
  const t = await tokenRequest(state.tenant, state.appId, state.secret);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.token_type, "Bearer");
});

step("removePassword (204) and the secret is refused (401 invalid_client AADSTS7000215)", async () => {
  await state.client.api(`/applications/${state.id}/removePassword`).post({ keyId: state.keyId });
  const t = await tokenRequest(state.tenant, state.appId, state.secret);
  assert.equal(t.status, 401);
  assert.equal(t.body.error, "invalid_client");
  assert.deepEqual(t.body.error_codes, [7000215]);
  assert.ok(t.body.error_description.startsWith("AADSTS7000215:"));
});

step("delete (204), then deleted items list it and the uniqueName stays taken", async () => {
  await state.client.api(`/applications/${state.id}`).delete();
  await assert.rejects(state.client.api(`/applications/${state.id}`).get(), (e) => e.statusCode === 404);
  const deleted = await state.readerClient.api("/directory/deletedItems/microsoft.graph.application").get();
  const mine = deleted.value.find((a) => a.id === state.id);
  assert.ok(mine, JSON.stringify(deleted.value.map((a) => a.id)));
  assert.ok(mine.deletedDateTime);
  await assert.rejects(
    state.client
      .api("/applications(uniqueName='js-conformance')")
      .header("Prefer", "create-if-missing")
      .patch({ displayName: "again" }),
    (e) => e.statusCode === 400 && /uniqueName/.test(e.message),
  );
});

step("restore from deleted items", async () => {
  const restored = await state.client.api(`/directory/deletedItems/${state.id}/restore`).post({});
  assert.equal(restored.id, state.id);
  const got = await state.client.api("/applications(uniqueName='js-conformance')").get();
  assert.equal(got.id, state.id);
});

let passed = 0;
let failed = 0;
for (const { name, fn } of steps) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAILED - ${name}: ${e && e.stack ? e.stack : e}`);
    break;
  }
}
console.log(failed ? `${passed} passed, ${failed} failed` : `${passed} passed`);
process.exit(failed ? 1 : 0);
