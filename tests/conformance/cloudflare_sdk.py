"""Conformance: the official Cloudflare Python SDK against `clientops emulate cloudflare`.

Run by tests/conformance/run, which starts the emulator (with `--rate-limit 30/1m`)
and sets CLIENTOPS_EMULATOR_URL (the SDK base URL, ending in /client/v4) and
CLIENTOPS_EMULATOR_ADMIN (the admin API). Every test uses a token of its own, so
each has its own rate-limit bucket.
"""

import datetime
import json
import os
import urllib.request
import uuid

import cloudflare
import pytest
from cloudflare import Cloudflare

BASE = os.environ["CLIENTOPS_EMULATOR_URL"]
ADMIN = os.environ["CLIENTOPS_EMULATOR_ADMIN"]
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TXT_PREFIX = "cloudflare_oauth_client_publisher="


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ADMIN + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def check(client_id, secret):
    return admin("POST", "/credentials/check", {"client_id": client_id, "client_secret": secret})["valid"]


def make_client(**kw):
    kw.setdefault("api_token", "tok-" + uuid.uuid4().hex)
    kw.setdefault("max_retries", 0)
    return Cloudflare(base_url=BASE, _strict_response_validation=True, **kw)


@pytest.fixture
def cf():
    with make_client() as c:
        yield c


@pytest.fixture(autouse=True)
def no_faults():
    admin("DELETE", "/faults")
    yield
    admin("DELETE", "/faults")


CREATE = dict(
    client_name="Grafana",
    grant_types=["authorization_code", "refresh_token"],
    redirect_uris=["https://grafana.example.com/login/generic_oauth"],
    response_types=["code"],
    scopes=["user-details.read", "account.read"],
    token_endpoint_auth_method="client_secret_basic",
)


def create(cf, **over):
    return cf.iam.oauth_clients.create(account_id=ACCOUNT, **{**CREATE, **over})


def test_full_lifecycle(cf):
    oc = cf.iam.oauth_clients
    created = create(
        cf,
        optional_scopes=["account.read"],
        client_uri="https://grafana.example.com/about",
        policy_uri="https://grafana.example.com/privacy",
        tos_uri="https://grafana.example.com/tos",
        allowed_cors_origins=["https://grafana.example.com"],
        post_logout_redirect_uris=["https://grafana.example.com/bye"],
    )
    assert type(created).__name__ == "OAuthClientCreateResponse"
    cid = created.client_id
    assert len(cid) == 32 and all(c in "0123456789abcdef" for c in cid)
    assert created.visibility == "private"
    assert created.client_name == "Grafana"
    assert created.grant_types == ["authorization_code", "refresh_token"]
    assert created.response_types == ["code"]
    assert created.token_endpoint_auth_method == "client_secret_basic"
    assert created.redirect_uris == ["https://grafana.example.com/login/generic_oauth"]
    assert created.post_logout_redirect_uris == ["https://grafana.example.com/bye"]
    assert created.allowed_cors_origins == ["https://grafana.example.com"]
    assert created.scopes == ["user-details.read", "account.read", "offline_access"]
    assert created.optional_scopes == ["account.read"]
    assert created.client_uri == "https://grafana.example.com/about"
    assert created.policy_uri == "https://grafana.example.com/privacy"
    assert created.tos_uri == "https://grafana.example.com/tos"
    assert created.logo_uri is None
    assert created.client_uri_verification.status == "pending"
    assert created.client_uri_verification.text.startswith(TXT_PREFIX)
    assert created.has_rotated_secret is False
    assert isinstance(created.created_at, datetime.datetime)
    assert created.created_at.tzinfo is not None
    assert created.updated_at == created.created_at
    assert created.promoted_at is None
    secret1 = created.client_secret
    assert isinstance(secret1, str) and len(secret1) >= 32
    assert check(cid, secret1)

    got = oc.get(cid, account_id=ACCOUNT)
    assert type(got).__name__ == "OAuthClientGetResponse"
    assert "client_secret" not in got.model_dump()
    expected = created.model_dump(exclude={"client_secret"})
    assert got.model_dump() == expected

    page = oc.list(account_id=ACCOUNT)
    items = [c for c in page if c.client_id == cid]
    assert len(items) == 1
    assert items[0].model_dump() == expected
    assert page.next_page_info() is None
    assert not page.has_next_page()

    upd = oc.update(cid, account_id=ACCOUNT, client_name="Grafana Prod", grant_types=["authorization_code"])
    assert type(upd).__name__ == "OAuthClientUpdateResponse"
    assert upd.client_name == "Grafana Prod"
    assert upd.scopes == ["user-details.read", "account.read"]  # offline_access went with refresh_token
    assert upd.redirect_uris == created.redirect_uris
    assert upd.updated_at >= created.updated_at
    assert "client_secret" not in upd.model_dump()

    rot = oc.rotate_secret(cid, account_id=ACCOUNT)
    secret2 = rot.client_secret
    assert secret2 and secret2 != secret1
    assert check(cid, secret1) and check(cid, secret2)
    assert oc.get(cid, account_id=ACCOUNT).has_rotated_secret is True

    with pytest.raises(cloudflare.ConflictError) as e:
        oc.rotate_secret(cid, account_id=ACCOUNT)
    assert e.value.status_code == 409
    assert e.value.body["success"] is False
    assert e.value.body["result"] is None
    assert [x.code for x in e.value.errors] == [1004]

    done = oc.delete_rotated_secret(cid, account_id=ACCOUNT)
    assert done.id == cid
    assert not check(cid, secret1) and check(cid, secret2)
    assert oc.get(cid, account_id=ACCOUNT).has_rotated_secret is False

    deleted = oc.delete(cid, account_id=ACCOUNT)
    assert deleted.id == cid
    with pytest.raises(cloudflare.NotFoundError) as e:
        oc.get(cid, account_id=ACCOUNT)
    assert e.value.status_code == 404
    assert e.value.errors[0].code == 1003
    assert cid in e.value.errors[0].message
    assert not check(cid, secret2)
    assert all(c.client_id != cid for c in oc.list(account_id=ACCOUNT))


def test_not_found_for_every_client_operation(cf):
    oc = cf.iam.oauth_clients
    missing = "0" * 32
    for call in (
        lambda: oc.get(missing, account_id=ACCOUNT),
        lambda: oc.update(missing, account_id=ACCOUNT, client_name="x"),
        lambda: oc.delete(missing, account_id=ACCOUNT),
        lambda: oc.rotate_secret(missing, account_id=ACCOUNT),
        lambda: oc.delete_rotated_secret(missing, account_id=ACCOUNT),
    ):
        with pytest.raises(cloudflare.NotFoundError) as e:
            call()
        assert e.value.status_code == 404
        assert e.value.body["success"] is False


def test_validation_errors_are_bad_requests_with_pointers(cf):
    with pytest.raises(cloudflare.BadRequestError) as e:
        create(cf, scopes=["account:read"])
    assert e.value.status_code == 400
    err = e.value.errors[0]
    assert err.code == 1002
    assert "colon" in err.message
    assert e.value.body["errors"][0]["source"]["pointer"] == "/scopes/0"

    with pytest.raises(cloudflare.BadRequestError) as e:
        create(cf, grant_types=["refresh_token"], optional_scopes=["offline_access"])
    pointers = sorted(x["source"]["pointer"] for x in e.value.body["errors"])
    assert pointers == ["/grant_types", "/optional_scopes/0"]

    with pytest.raises(cloudflare.BadRequestError) as e:
        create(cf, scopes=["account.read", "no-such-scope.read"])
    assert e.value.body["errors"][0]["source"]["pointer"] == "/scopes/1"

    with pytest.raises(cloudflare.BadRequestError):
        create(cf, optional_scopes=["teams.read"])

    # extra_body reaches the validator too: a wrong type is a 400, not a crash
    with pytest.raises(cloudflare.BadRequestError) as e:
        create(cf, extra_body={"redirect_uris": "https://not-a-list.example.com"})
    assert e.value.body["errors"][0]["source"]["pointer"] == "/redirect_uris"


def test_bad_account_id_cannot_be_routed(cf):
    with pytest.raises(cloudflare.BadRequestError) as e:
        cf.iam.oauth_clients.list(account_id="me@example.com")
    assert [x.code for x in e.value.errors] == [7003, 7000]


def test_protocol_scopes_follow_grant_and_response_types(cf):
    c = create(cf, grant_types=["authorization_code"], response_types=["code", "id_token"],
               scopes=["account.read", "offline_access"])
    assert c.scopes == ["account.read", "openid"]
    u = cf.iam.oauth_clients.update(c.client_id, account_id=ACCOUNT, grant_types=["authorization_code", "refresh_token"],
                                    response_types=["code"])
    assert u.scopes == ["account.read", "offline_access"]


def test_public_pkce_client_has_no_secret(cf):
    c = create(cf, token_endpoint_auth_method="none")
    assert c.client_secret is None
    assert "client_secret" not in c.model_dump(exclude_none=True)
    with pytest.raises(cloudflare.BadRequestError):
        cf.iam.oauth_clients.rotate_secret(c.client_id, account_id=ACCOUNT)
    assert check(c.client_id, "")


def test_promotion_to_public(cf):
    oc = cf.iam.oauth_clients
    c = create(cf, client_uri="https://app.example.com/")
    with pytest.raises(cloudflare.BadRequestError) as e:
        oc.update(c.client_id, account_id=ACCOUNT, visibility="public")
    assert sorted(x["source"]["pointer"] for x in e.value.body["errors"]) == ["/client_uri", "/logo_uri"]

    admin("POST", f"/clients/{c.client_id}/uri_verification", {"status": "failed"})
    assert oc.get(c.client_id, account_id=ACCOUNT).client_uri_verification.status == "failed"
    again = oc.update(c.client_id, account_id=ACCOUNT, client_uri="https://app.example.com/")
    assert again.client_uri_verification.status == "pending"
    assert again.client_uri_verification.text == c.client_uri_verification.text

    admin("POST", f"/clients/{c.client_id}/uri_verification", {"status": "verified"})
    pub = oc.update(c.client_id, account_id=ACCOUNT, visibility="public", logo_uri="https://app.example.com/logo.png")
    assert pub.visibility == "public"
    assert isinstance(pub.promoted_at, datetime.datetime)
    assert pub.client_uri_verification.status == "verified"
    # permanent
    with pytest.raises(cloudflare.BadRequestError):
        oc.update(c.client_id, account_id=ACCOUNT, extra_body={"visibility": "private"})
    assert oc.get(c.client_id, account_id=ACCOUNT).visibility == "public"


def test_scope_catalogue(cf):
    scopes = list(cf.iam.oauth_scopes.list())
    assert scopes
    ids = {s.id for s in scopes}
    assert {"user-details.read", "account.read", "teams.read"} <= ids
    for s in scopes:
        assert isinstance(s.name, str) and s.name
        assert ":" not in s.id


def test_legacy_api_key_auth():
    with make_client(api_token=None, api_email="ops@example.com", api_key="k-" + uuid.uuid4().hex) as c:
        assert isinstance(list(c.iam.oauth_clients.list(account_id=ACCOUNT)), list)
    with make_client(api_token=None, api_email="not-an-email", api_key="k") as c:
        with pytest.raises(cloudflare.BadRequestError) as e:
            c.iam.oauth_clients.list(account_id=ACCOUNT)
        assert [x.code for x in e.value.errors] == [6003]
        assert e.value.body["errors"][0]["error_chain"][0]["code"] == 6102


def test_rate_limit_is_a_rate_limit_error(cf):
    # the emulator runs with --rate-limit 30/1m; this token's bucket is fresh
    seen = None
    for _ in range(40):
        try:
            cf.iam.oauth_clients.list(account_id=ACCOUNT)
        except cloudflare.RateLimitError as e:
            seen = e
            break
    assert seen is not None, "no 429 within 40 requests"
    assert seen.status_code == 429
    assert [x.code for x in seen.errors] == [971]
    assert 1 <= int(seen.response.headers["retry-after"]) <= 2
    assert seen.response.headers["ratelimit-policy"] == '"default";q=30;w=60'
    assert seen.response.headers["ratelimit"].startswith('"default";r=0;t=')
    # other credentials are not affected
    with make_client() as other:
        other.iam.oauth_clients.list(account_id=ACCOUNT)


def test_injected_faults_map_to_sdk_errors(cf):
    admin("PUT", "/faults", {"p_429": 1.0, "times": 1})
    with pytest.raises(cloudflare.RateLimitError):
        cf.iam.oauth_clients.list(account_id=ACCOUNT)
    admin("PUT", "/faults", {"p_500": 1.0, "times": 1})
    with pytest.raises(cloudflare.InternalServerError) as e:
        cf.iam.oauth_clients.list(account_id=ACCOUNT)
    assert e.value.status_code == 500
    admin("PUT", "/faults", {"p_503": 1.0, "times": 1})
    with pytest.raises(cloudflare.InternalServerError) as e:
        cf.iam.oauth_clients.list(account_id=ACCOUNT)
    assert e.value.status_code == 503
    cf.iam.oauth_clients.list(account_id=ACCOUNT)


def test_sdk_retries_recover_from_one_injected_503():
    admin("PUT", "/faults", {"p_503": 1.0, "times": 1, "methods": ["GET"]})
    with make_client(max_retries=2) as c:
        assert isinstance(list(c.iam.oauth_scopes.list()), list)


def test_dropped_connection_after_commit(cf):
    before = len(admin("GET", "/clients")["clients"])
    admin("PUT", "/faults", {"p_drop_after_commit": 1.0, "times": 1, "methods": ["POST"]})
    with pytest.raises(cloudflare.APIConnectionError):
        create(cf, client_name="dropped")
    clients = admin("GET", "/clients")["clients"]
    assert len(clients) == before + 1
    assert any(c["client_name"] == "dropped" for c in clients)
    counts = admin("GET", "/requests")["operations"]["create"]["by_status"]
    assert counts.get("dropped", 0) >= 1
