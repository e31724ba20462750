#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3.1 description of cove's HTTP API.

The routes are listed once below, in a compact form; the test suite checks
that the server's route table (`cove routes`) and this document agree, so a
route added to the server without a line here fails `make test`.
Run: python3 scripts/openapi.py  (rewrites docs/openapi.json); --check only compares.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

S = lambda name: {"$ref": "#/components/schemas/" + name}
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TIME = {"type": ["string", "null"], "format": "date-time"}


def obj(props, required=(), extra=False):
    o = {"type": "object", "properties": props}
    if required:
        o["required"] = list(required)
    if not extra:
        o["additionalProperties"] = False
    return o


def page(item):
    return obj({"items": {"type": "array", "items": item},
                "next_cursor": {"type": ["string", "null"]}}, extra=True)


SCHEMAS = {
    "Problem": obj({"type": STR, "title": STR, "status": INT, "detail": STR,
                    "request_id": STR}, ["type", "title", "status", "detail"], extra=True),
    "User": obj({"uid": INT, "username": STR, "email": {"type": ["string", "null"]},
                 "full_name": STR, "state": {"enum": ["active", "locked", "disabled"]},
                 "gid": INT, "groups": {"type": "array", "items": STR}, "admin": BOOL,
                 "umask": STR, "has_password": BOOL, "quota_storage_bytes": INT,
                 "created_at": TIME,
                 "projects": {"type": "array", "items": obj({"name": STR, "role": STR})}},
                extra=True),
    "Group": obj({"gid": INT, "name": STR, "kind": {"enum": ["user", "group", "project"]},
                  "members": {"type": "array", "items": STR}}, extra=True),
    "Quota": obj({"storage_bytes": INT, "jobs": INT, "cpu": INT, "memory_bytes": INT}),
    "Member": obj({"username": STR,
                   "role": {"enum": ["owner", "maintainer", "developer", "guest"]}}),
    "Project": obj({"name": STR, "gid": INT, "description": STR, "created_at": TIME,
                    "quota": S("Quota"), "members": {"type": "array", "items": S("Member")}},
                   extra=True),
    "Token": obj({"id": STR, "name": STR, "scopes": {"type": "array", "items": STR},
                  "created_at": TIME, "expires_at": TIME, "last_used_at": TIME}, extra=True),
    "TokenPair": obj({"access_token": STR, "refresh_token": STR, "token_type": STR,
                      "expires_in": INT, "refresh_expires_in": INT}, extra=True),
    "AuditEntry": obj({"id": STR, "time": TIME, "actor": STR, "action": STR, "target": STR,
                       "outcome": {"enum": ["success", "failure"]}, "ip": STR,
                       "request_id": STR, "detail": STR}, extra=True),
    "Settings": obj({"registration": BOOL, "password_login": BOOL}),
    "DeviceStart": obj({"device_id": STR, "user_code": STR, "verification_uri": STR,
                        "verification_uri_complete": {"type": ["string", "null"]},
                        "expires_in": INT, "interval": INT}),
    "DeviceToken": obj({"device_id": STR}, ["device_id"]),
    "IdentityLink": obj({"issuer": STR, "sub": STR}, ["issuer", "sub"]),
    "Identities": obj({"items": {"type": "array", "items": obj({"issuer": STR, "sub": STR, "provider": STR,
                                                                "created_at": TIME, "last_login_at": {"type": ["string", "null"]}}, extra=True)}}),
    "LogoutUrl": obj({"logout_url": {"type": "string", "description": "the provider's end-session URL: the portal goes there"}}),
    "AuthOptions": obj({"registration": BOOL, "password_login": BOOL,
                        "providers": {"type": "array", "items": obj({"id": STR, "name": STR}, extra=True)}},
                       extra=True),
    "BrowserSession": obj({"user": S("User"), "csrf_token": {"type": "string", "description": "send it back as X-CSRF-Token with every change authenticated by the cookie"},
                           "session_id": STR, "idle_timeout": INT}, extra=True),
    "Session": obj({"id": STR, "kind": {"enum": ["browser", "cli"]}, "ip": {"type": ["string", "null"]},
                    "user_agent": {"type": ["string", "null"]}, "current": BOOL,
                    "created_at": TIME, "last_seen_at": TIME, "expires_at": TIME}, extra=True),
    "ImportReport": obj({"created": {"type": "array", "items": STR},
                         "skipped": {"type": "array", "items": obj(
                             {"line": INT, "text": STR, "reason": STR})}}, extra=True),
    "Entry": obj({"name": STR, "type": {"enum": ["file", "directory"]}, "size": INT,
                  "mode": STR, "owner": STR, "group": STR, "uid": INT, "gid": INT,
                  "sha256": {"type": ["string", "null"]}, "modified_at": TIME,
                  "created_at": TIME, "path": STR}, extra=True),
    "Listing": obj({"path": STR, "items": {"type": "array", "items": {"$ref": "#/components/schemas/Entry"}},
                    "next_cursor": {"type": ["string", "null"]}}, extra=True),
    "Share": obj({"id": STR, "path": STR, "url": STR, "token": STR, "type": STR,
                  "uses": INT, "created_at": TIME, "expires_at": TIME}, extra=True),
    "UploadSession": obj({"id": STR, "path": STR, "offset": INT,
                          "size": {"type": ["integer", "null"]}, "expires_at": TIME}, extra=True),
    "Volume": obj({"name": STR, "path": STR, "capacity_bytes": INT, "used_bytes": INT,
                   "created_at": TIME}, extra=True),
    "Usage": obj({"items": {"type": "array", "items": obj(
        {"scope": STR, "used": INT, "limit": INT})}}, extra=True),
    "FsckReport": obj({"clean": BOOL, "problems": {"type": "array", "items": obj(
        {"kind": STR, "detail": STR})}, "repaired": INT, "unreferenced_blob_files": INT,
        "checked": obj({"files": INT, "blobs": INT})}, extra=True),
    "GcReport": obj({"removed": INT, "bytes": INT, "kept_in_grace": INT}, extra=True),
    "BackupRequest": obj({"dir": {"type": "string", "description": "an absolute path on the server's machine, outside the data directory; absent or an empty directory"},
                          "link": {"type": "boolean", "description": "hard-link blobs instead of copying them (same file system only)"}}, ["dir"]),
    "BackupReport": obj({"format": STR, "created": TIME, "schema_version": INT, "db_sha256": STR,
                         "blobs": INT, "blob_bytes": INT, "other_files": INT,
                         "counts": {"type": "object", "additionalProperties": INT},
                         "missing": {"type": "array", "items": {"type": "object"}},
                         "dir": STR, "seconds": {"type": "number"}, "linked": BOOL}, extra=True),
    "Job": obj({"id": STR, "name": STR, "app": STR, "user": STR,
                "project": {"type": ["string", "null"]}, "queue": STR, "priority": INT,
                "state": {"enum": ["queued", "starting", "running", "succeeded", "failed",
                                   "cancelled", "timed_out", "lost"]},
                "reason": STR, "exit_code": {"type": ["integer", "null"]},
                "signal": {"type": ["integer", "null"]},
                "args": {"type": "array", "items": STR}, "inputs": {"type": "array", "items": STR},
                "output": STR, "overwrite": BOOL, "env": {"type": "object"},
                "labels": {"type": "object"},
                "image": {"type": ["string", "null"]},
                "image_digest": {"type": ["string", "null"]},
                "resources": obj({"cpu": {"type": "number"}, "memory": INT, "time": INT,
                                  "pids": INT, "scratch": INT}),
                "submitted_at": TIME, "started_at": TIME, "finished_at": TIME,
                "usage": obj({"cpu_seconds": {"type": ["number", "null"]},
                              "peak_memory": {"type": ["integer", "null"]}}),
                "attempt": INT, "output_files": {"type": ["integer", "null"]},
                "output_error": {"type": ["string", "null"]},
                "history": {"type": "array", "items": obj({"state": STR, "at": TIME, "reason": STR})}},
               ["id", "state", "exit_code", "reason"], extra=True),
    "App": obj({"name": STR, "version": STR, "description": STR,
                "command": {"type": "array", "items": STR}, "input": {"enum": ["script", "args"]},
                "env": {"type": "object"}, "builtin": BOOL}, extra=True),
    "Queue": obj({"name": STR, "description": STR, "users": {"type": "array", "items": STR},
                  "groups": {"type": "array", "items": STR},
                  "default": obj({"cpu": {"type": "number"}, "memory": INT, "time": INT}),
                  "max": obj({"cpu": {"type": "number"}, "memory": INT, "time": INT}),
                  "max_running": INT, "network": BOOL, "retries": INT, "priority": INT,
                  "running": INT}, extra=True),
}

BODIES = {
    "Register": obj({"username": STR, "email": STR, "password": STR, "full_name": STR},
                    ["username", "email", "password"]),
    "Login": obj({"username": STR, "password": STR}, ["username", "password"]),
    "Refresh": obj({"refresh_token": STR}, ["refresh_token"]),
    "Logout": obj({"refresh_token": STR}),
    "MePatch": obj({"email": STR, "full_name": STR, "umask": STR}),
    "PasswordChange": obj({"current_password": STR, "new_password": STR},
                          ["current_password", "new_password"]),
    "TokenCreate": obj({"name": STR, "scopes": {"type": "array", "items": {
        "enum": ["read", "write", "admin"]}}, "expires_in": {"type": ["string", "integer"]}},
        ["name"]),
    "UserCreate": obj({"username": STR, "email": STR, "password": STR, "full_name": STR,
                       "admin": BOOL, "state": STR}, ["username"]),
    "UserPatch": obj({"email": STR, "full_name": STR, "state": STR, "password": STR,
                      "admin": BOOL, "umask": STR, "quota_storage_bytes": INT}),
    "GroupCreate": obj({"name": STR, "members": {"type": "array", "items": STR}}, ["name"]),
    "GroupRename": obj({"name": STR}, ["name"]),
    "ProjectCreate": obj({"name": STR, "description": STR, "quota": S("Quota")}, ["name"]),
    "ProjectPatch": obj({"description": STR, "quota": S("Quota")}),
    "MemberRole": obj({"role": {"enum": ["owner", "maintainer", "developer", "guest"]}},
                      ["role"]),
    "SettingsPatch": obj({"registration": BOOL, "password_login": BOOL}),
    "FsOp": obj({"op": {"enum": ["mkdir", "copy", "move"]}, "to": STR, "parents": BOOL,
                 "recursive": BOOL, "mode": STR}, ["op"]),
    "FsPatch": obj({"mode": STR, "owner": STR, "group": STR, "recursive": BOOL}),
    "ShareCreate": obj({"path": STR, "expires_in": {"type": ["string", "integer"]}}, ["path"]),
    "UploadCreate": obj({"path": STR, "size": INT, "mode": STR}, ["path"]),
    "VolumeCreate": obj({"name": STR, "capacity_bytes": INT, "group": STR}, ["name"]),
    "VolumePatch": obj({"capacity_bytes": INT}, ["capacity_bytes"]),
    "JobSubmit": obj({"app": STR, "script": STR, "args": {"type": "array", "items": STR},
                      "inputs": {"type": "array", "items": STR}, "output": STR,
                      "overwrite": BOOL, "env": {"type": "object"}, "cpu": {"type": "number"},
                      "memory": {"type": ["string", "integer"]}, "time": {"type": ["string", "integer"]},
                      "pids": INT, "scratch": {"type": ["string", "integer"]}, "queue": STR,
                      "priority": INT, "name": STR, "labels": {"type": "object"}, "project": STR,
                      "image": STR},
                     ["app"]),
    "AppPut": obj({"name": STR, "version": STR, "description": STR,
                   "command": {"type": "array", "items": STR}, "input": {"enum": ["script", "args"]},
                   "env": {"type": "object"}}, ["command"]),
    "QueuePut": obj({"name": STR, "description": STR, "users": {"type": "array", "items": STR},
                     "groups": {"type": "array", "items": STR}, "default": {"type": "object"},
                     "max": {"type": "object"}, "max_running": INT, "network": BOOL,
                     "retries": INT, "priority": INT}),
    "RobotCreate": obj({"name": STR, "role": {"enum": ["guest", "developer"]},
                        "description": STR, "expires_in": INT}, ["name"]),
}
SCHEMAS.update(BODIES)
SCHEMAS.update({
    "Robot": obj({"name": STR, "login": STR, "role": {"enum": ["guest", "developer"]},
                  "description": STR, "created_by": STR, "created_at": TIME,
                  "expires_at": TIME, "last_used_at": TIME,
                  "secret": {"type": "string", "description": "only in the answer to its creation"}},
                 extra=True),
    "Repository": obj({"name": STR, "namespace": STR, "immutable_tags": BOOL, "tags": INT,
                       "manifests": INT, "size": INT, "created_at": TIME, "updated_at": TIME}, extra=True),
    "ImageTag": obj({"tag": STR, "digest": STR, "media_type": STR, "size": INT,
                     "immutable": BOOL, "pushed_at": TIME,
                     "pushed_by": {"type": ["string", "null"], "description": "the username (or <project>+<robot>) that pushed the tag last; null for tags pushed before cove recorded it"}}, extra=True),
    "ImageTagList": obj({"repository": STR, "items": {"type": "array", "items": S("ImageTag")}}, extra=True),
    "RegistryGcRequest": obj({"project": {"type": "string", "description": "a project (owners, maintainers) or your own username; absent: every repository (administrators)"},
                              "grace": {"type": "string", "description": "a duration like 1h (default) or 0s; what was pushed more recently stays"},
                              "dry_run": {"type": "boolean", "description": "report what would be removed, remove nothing"}}),
    "RegistryGcItem": obj({"repository": STR, "kind": {"enum": ["tag", "manifest", "blob"]},
                           "digest": STR, "tag": STR, "size": INT}, extra=True),
    "RegistryGcReport": obj({"dry_run": BOOL, "grace": INT, "project": STR, "repositories": INT,
                             "tags_removed": INT, "manifests_removed": INT, "blobs_removed": INT,
                             "bytes": INT, "items": {"type": "array", "items": S("RegistryGcItem")}}, extra=True),
    "RetentionPolicy": obj({"id": INT, "repository": STR, "tag": STR, "keep": INT,
                            "older_than": INT, "created_at": TIME}, extra=True),
    "RetentionPolicyCreate": obj({"repository": {"type": "string", "description": "glob over the repository path inside the project (default **)"},
                                  "tag": {"type": "string", "description": "glob over tags (default *)"},
                                  "keep": {"type": "integer", "minimum": 0, "description": "how many of the most recently pushed matching tags stay"},
                                  "older_than": {"type": "string", "description": "only tags pushed longer ago than this duration (like 30d) are removed"}}, ["keep"]),
    "RepositoryPatch": obj({"immutable_tags": BOOL}),
    "TagRule": obj({"id": INT, "repository": STR, "tag": STR, "created_at": TIME}, extra=True),
    "TagRuleCreate": obj({"repository": {"type": "string", "description": "glob over the repository path inside the project (default **)"},
                          "tag": {"type": "string", "description": "glob over tags"}}, ["tag"]),
    "RegistryToken": obj({"token": STR, "access_token": STR, "expires_in": INT,
                          "issued_at": TIME}, extra=True),
    "Overview": obj({
        "version": STR, "started_at": TIME, "uptime_s": INT,
        "health": {"type": "object", "additionalProperties": STR,
                   "description": "database, disk, jobs: \"ok\" or what is wrong"},
        "users": {"oneOf": [obj({"total": INT, "active": INT, "locked": INT, "disabled": INT,
                                 "admins": INT}), {"type": "null"}]},
        "projects": {"type": ["integer", "null"]},
        "jobs": {"oneOf": [obj({"queues": {"type": "array", "items": obj(
            {"name": STR, "queued": INT, "starting": INT, "running": INT})},
            "queued": INT, "starting": INT, "running": INT}), {"type": "null"}]},
        "storage": {"oneOf": [obj({"volumes": {"type": "array", "items": obj(
            {"name": STR, "capacity": INT, "used": INT})}, "blob_bytes": INT,
            "disk": {"oneOf": [obj({"total": INT, "free": INT}), {"type": "null"}]}}),
            {"type": "null"}]},
        "registry": {"oneOf": [obj({"repositories": INT, "bytes": INT}), {"type": "null"}]},
    }, extra=True),
})

ERRORS = {
    "400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound",
    "408": "RequestTimeout", "409": "Conflict", "412": "PreconditionFailed", "413": "TooLarge",
    "415": "UnsupportedMediaType", "416": "RangeNotSatisfiable", "429": "TooManyRequests",
    "405": "MethodNotAllowed", "503": "ServiceUnavailable",
}

# Responses with user bytes (files, share links, archives) and the headers
# that keep them from being active content in the portal's origin.
USER_CONTENT = {"getPath", "getShared", "getSharedBelow"}
USER_CONTENT_HEADERS = {
    "Content-Security-Policy": {"schema": {"const": "sandbox; default-src 'none'"},
                                "description": "on every response with user bytes"},
    "X-Content-Type-Options": {"schema": {"const": "nosniff"}},
    "Content-Disposition": {"schema": STR, "description":
                            "attachment; filename=\"<ASCII fallback>\"; filename*=UTF-8''<name> "
                            "(RFC 6266): with ?download=1, for archives (<folder>.tar.gz or .zip), "
                            "and always for names ending in .html .htm .xhtml .svg .svgz .xml .xsl "
                            ".js .mjs (any case)"},
}
ARCHIVES = {
    "application/gzip": {"schema": {"type": "string", "format": "binary",
                                    "description": "?archive=tar.gz: a gzip-compressed pax tar"}},
    "application/zip": {"schema": {"type": "string", "format": "binary",
                                   "description": "?archive=zip: UTF-8 names, zip64 where needed"}},
}

P, A, D = "public", "auth", "admin"
PAGE_Q = ["limit", "cursor"]

# method, path, operationId, tag, access, summary, request body, success
# (status, schema or content type), extra error statuses, query parameters
ROUTES = [
    ("get", "/healthz", "getHealth", "system", P, "Liveness", None, (200, "object"), [], []),
    ("get", "/readyz", "getReady", "system", P, "Readiness (database reachable)", None, (200, "object"), [], []),
    ("get", "/metrics", "getMetrics", "system", D, "Prometheus metrics (an administrator's token with read scope; no token when the server runs with --metrics-public)", None, (200, "text/plain"), [], []),
    ("get", "/v1/openapi.json", "getOpenApi", "system", P, "This document", None, (200, "object"), [], []),
    ("get", "/.well-known/jwks.json", "getJwks", "auth", P, "Public keys that sign access tokens", None, (200, "object"), [], []),
    ("post", "/v1/auth/register", "register", "auth", P, "Register an account", "Register", (201, "User"), ["400", "403", "409", "413", "415"], []),
    ("post", "/v1/auth/login", "login", "auth", P, "Log in", "Login", (200, "TokenPair"), ["400", "401", "403", "429"], []),
    ("post", "/v1/auth/refresh", "refresh", "auth", P, "Exchange a refresh token (rotates it)", "Refresh", (200, "TokenPair"), ["400", "401"], []),
    ("post", "/v1/auth/logout", "logout", "auth", A, "End the session", "Logout", (204, None), ["400", "401"], []),
    ("get", "/v1/auth/options", "getAuthOptions", "auth", P, "How one may log in here (for the portal's login page)", None, (200, "AuthOptions"), [], []),
    ("post", "/v1/auth/session", "createBrowserSession", "auth", P, "Log in from a browser: sets the HttpOnly session cookie cove_session and answers with the CSRF token (refused from another origin)", "Login", (201, "BrowserSession"), ["400", "401", "403", "415", "429"], []),
    ("get", "/v1/auth/session", "getBrowserSession", "auth", A, "The browser session of the cookie sent, with its CSRF token (404 for a token-authenticated request)", None, (200, "BrowserSession"), ["401", "404"], []),
    ("delete", "/v1/auth/session", "deleteBrowserSession", "auth", A, "Log out of the browser: ends the session and clears the cookie; a session of single sign-on answers 200 with the provider's logout_url when it has one", None, (204, None), ["401", "403"], []),
    ("get", "/v1/auth/oidc/{provider}/start", "ssoStart", "auth", P, "Single sign-on from a browser: redirects (302) to the provider (authorization code flow, PKCE S256) with state and nonce bound to a short-lived attempt cookie; ?return= is the portal path to land on", None, (302, None), ["400", "404", "503"], [("return", {"schema": STR, "description": "one of the portal's own paths (default /)"})]),
    ("get", "/v1/auth/oidc/{provider}/callback", "ssoCallback", "auth", P, "Where the provider sends the browser back: checks state and iss (RFC 9207), exchanges the code, verifies the ID token, provisions the account and starts the browser session (302 to the return path)", None, (302, None), ["400", "401", "403", "404", "503"], [("code", {"schema": STR}), ("state", {"schema": STR}), ("iss", {"schema": STR}), ("error", {"schema": STR})]),
    ("post", "/v1/auth/oidc/{provider}/device", "ssoDeviceStart", "auth", P, "Begin a device login (RFC 8628) for the CLI: the user opens verification_uri and enters user_code", None, (200, "DeviceStart"), ["401", "404", "503"], []),
    ("post", "/v1/auth/oidc/{provider}/device/token", "ssoDeviceToken", "auth", P, "Poll a device login: 202 {status: authorization_pending or slow_down} until the user has logged in, then the token pair as /v1/auth/login gives", "DeviceToken", (200, "TokenPair"), ["400", "401", "403", "404", "503"], []),
    ("get", "/v1/users/{name}/identities", "listIdentities", "users", D, "The provider identities (issuer, sub) linked to a user", None, (200, "Identities"), ["401", "403", "404"], []),
    ("post", "/v1/users/{name}/identities", "linkIdentity", "users", D, "Link a provider identity to an existing account (its next single sign-on lands there)", "IdentityLink", (201, "Identities"), ["400", "401", "403", "404", "409"], []),
    ("delete", "/v1/users/{name}/identities", "unlinkIdentity", "users", D, "Unlink a provider identity (?issuer= and &sub=)", None, (204, None), ["400", "401", "403", "404"], [("issuer", {"schema": STR}), ("sub", {"schema": STR})]),
    ("get", "/v1/sessions", "listSessions", "me", A, "Own live sessions, browser and CLI", None, (200, page(S("Session"))), ["401"], []),
    ("delete", "/v1/sessions", "deleteOtherSessions", "me", A, "End every own session except the current one", None, (204, None), ["401", "403"], []),
    ("delete", "/v1/sessions/{id}", "deleteSession", "me", A, "End one own session", None, (204, None), ["401", "403", "404"], []),
    ("get", "/v1/me", "getMe", "me", A, "The caller", None, (200, "User"), ["401"], []),
    ("patch", "/v1/me", "patchMe", "me", A, "Change own email, name or umask", "MePatch", (200, "User"), ["400", "401", "409"], []),
    ("post", "/v1/me/password", "changePassword", "me", A, "Change own password (ends other sessions)", "PasswordChange", (204, None), ["400", "401", "403"], []),
    ("get", "/v1/tokens", "listTokens", "tokens", A, "Own personal API tokens", None, (200, page(S("Token"))), ["401"], []),
    ("post", "/v1/tokens", "createToken", "tokens", A, "Create a personal API token (secret shown once)", "TokenCreate", (201, "Token"), ["400", "401", "403", "409"], []),
    ("delete", "/v1/tokens/{id}", "revokeToken", "tokens", A, "Revoke a token", None, (204, None), ["401", "404"], []),
    ("get", "/v1/users", "listUsers", "users", D, "Users by uid (?format=passwd for passwd lines); ?q searches, ?state filters", None, (200, page(S("User"))), ["400", "401", "403"], PAGE_Q + ["format", "q", ("state", {"schema": {"enum": ["active", "locked", "disabled"]}, "description": "only users in this state"})]),
    ("post", "/v1/users", "createUser", "users", D, "Add a user", "UserCreate", (201, "User"), ["400", "401", "403", "409"], []),
    ("post", "/v1/users/import", "importUsers", "users", D, "Import passwd lines", "text/plain", (200, "ImportReport"), ["400", "401", "403", "415"], []),
    ("get", "/v1/users/{name}", "getUser", "users", A, "A user (admin, or the user)", None, (200, "User"), ["401", "403", "404"], []),
    ("patch", "/v1/users/{name}", "patchUser", "users", D, "Modify, lock, reset, set quota", "UserPatch", (200, "User"), ["400", "401", "403", "404", "409"], []),
    ("delete", "/v1/users/{name}", "deleteUser", "users", D, "Delete a user (home must be empty)", None, (204, None), ["401", "403", "404", "409"], []),
    ("get", "/v1/groups", "listGroups", "groups", A, "Groups (?format=group for group lines)", None, (200, page(S("Group"))), ["400", "401"], PAGE_Q + ["format"]),
    ("post", "/v1/groups", "createGroup", "groups", D, "Add a group", "GroupCreate", (201, "Group"), ["400", "401", "403", "404", "409"], []),
    ("post", "/v1/groups/import", "importGroups", "groups", D, "Import group lines", "text/plain", (200, "ImportReport"), ["400", "401", "403", "415"], []),
    ("get", "/v1/groups/{name}", "getGroup", "groups", A, "A group", None, (200, "Group"), ["401", "404"], []),
    ("patch", "/v1/groups/{name}", "renameGroup", "groups", D, "Rename a group", "GroupRename", (200, "Group"), ["400", "401", "403", "404", "409"], []),
    ("delete", "/v1/groups/{name}", "deleteGroup", "groups", D, "Delete a group", None, (204, None), ["401", "403", "404", "409"], []),
    ("put", "/v1/groups/{name}/members/{user}", "addGroupMember", "groups", D, "Add a member", None, (204, None), ["401", "403", "404", "409"], []),
    ("delete", "/v1/groups/{name}/members/{user}", "removeGroupMember", "groups", D, "Remove a member", None, (204, None), ["401", "403", "404", "409"], []),
    ("get", "/v1/projects", "listProjects", "projects", A, "Projects (admin: all; others: their own)", None, (200, page(S("Project"))), ["400", "401"], PAGE_Q),
    ("post", "/v1/projects", "createProject", "projects", A, "Create a project (caller becomes owner)", "ProjectCreate", (201, "Project"), ["400", "401", "403", "409"], []),
    ("get", "/v1/projects/{name}", "getProject", "projects", A, "A project (members)", None, (200, "Project"), ["401", "403", "404"], []),
    ("patch", "/v1/projects/{name}", "patchProject", "projects", A, "Change description (owner, maintainer) or quota (admin)", "ProjectPatch", (200, "Project"), ["400", "401", "403", "404"], []),
    ("delete", "/v1/projects/{name}", "deleteProject", "projects", A, "Delete a project (owner; its directory must be empty)", None, (204, None), ["401", "403", "404", "409"], []),
    ("get", "/v1/projects/{name}/members", "listProjectMembers", "projects", A, "Members and roles", None, (200, page(S("Member"))), ["401", "403", "404"], []),
    ("put", "/v1/projects/{name}/members/{user}", "setProjectMember", "projects", A, "Add a member or change a role (owner)", "MemberRole", (200, "Member"), ["400", "401", "403", "404", "409"], []),
    ("delete", "/v1/projects/{name}/members/{user}", "removeProjectMember", "projects", A, "Remove a member (owner, or the member)", None, (204, None), ["401", "403", "404", "409"], []),
    ("get", "/v1/settings", "getSettings", "admin", D, "Platform settings", None, (200, "Settings"), ["401", "403"], []),
    ("patch", "/v1/settings", "patchSettings", "admin", D, "Change settings", "SettingsPatch", (200, "Settings"), ["400", "401", "403"], []),
    ("post", "/v1/admin/keys/rotate", "rotateKey", "admin", D, "Rotate the token signing key", None, (200, "object"), ["401", "403", "409"], []),
    ("get", "/v1/audit", "listAudit", "audit", D, "Audit log, newest first; the filters combine", None, (200, page(S("AuditEntry"))), ["400", "401", "403"], PAGE_Q + ["actor", "action", "outcome", "target", "since", "until"]),
    ("get", "/v1/fs/{path}", "getPath", "files", A, "Download a file (Range, ETag; ?download=1: as an attachment), list a directory, ?stat=true, or download a directory as an archive made while it is sent (?archive=tar.gz or zip: what the caller may list, search and read; 400 for a file or an unknown format, or a zip of too many entries; 503 + Retry-After when too many archives are being made)", None, (200, "application/octet-stream"), ["400", "401", "403", "404", "416", "503"], PAGE_Q + ["stat", "download", "archive"]),
    ("put", "/v1/fs/{path}", "putFile", "files", A, "Upload a file (streamed; Content-Length or chunked)", "application/octet-stream", (201, "Entry"), ["400", "401", "403", "404", "408", "409", "412", "413"], ["mode"]),
    ("post", "/v1/fs/{path}", "fsOperation", "files", A, "mkdir, copy or move", "FsOp", (201, "Entry"), ["400", "401", "403", "404", "408", "409", "413"], []),
    ("patch", "/v1/fs/{path}", "fsChange", "files", A, "chmod, chown, chgrp", "FsPatch", (200, "Entry"), ["400", "401", "403", "404", "413"], []),
    ("delete", "/v1/fs/{path}", "fsRemove", "files", A, "Remove a file or directory", None, (204, None), ["400", "401", "403", "404", "409"], ["recursive"]),
    ("get", "/v1/df", "getUsage", "files", A, "Storage used against quotas", None, (200, "Usage"), ["401"], []),
    ("post", "/v1/uploads", "createUpload", "files", A, "Start a resumable upload", "UploadCreate", (201, "UploadSession"), ["400", "401", "403", "404", "413"], []),
    ("get", "/v1/uploads/{id}", "getUpload", "files", A, "An upload session and its offset", None, (200, "UploadSession"), ["401", "404"], []),
    ("patch", "/v1/uploads/{id}", "appendUpload", "files", A, "Append bytes at Upload-Offset", "application/offset+octet-stream", (200, "object"), ["400", "401", "403", "404", "408", "409", "413"], []),
    ("post", "/v1/uploads/{id}/complete", "completeUpload", "files", A, "Commit the uploaded file", None, (201, "Entry"), ["401", "403", "404", "409", "413"], []),
    ("delete", "/v1/uploads/{id}", "deleteUpload", "files", A, "Abandon an upload session", None, (204, None), ["401", "404"], []),
    ("post", "/v1/shares", "createShare", "shares", A, "Create a read-only share link", "ShareCreate", (201, "Share"), ["400", "401", "403", "404"], []),
    ("get", "/v1/shares", "listShares", "shares", A, "Own share links", None, (200, page(S("Share"))), ["401"], []),
    ("delete", "/v1/shares/{id}", "revokeShare", "shares", A, "Revoke a share link", None, (204, None), ["401", "404"], []),
    ("get", "/s/{token}", "getShared", "shares", P, "Follow a share link (file bytes or directory listing)", None, (200, "application/octet-stream"), ["404", "416"], ["download"]),
    ("get", "/s/{token}/{sub}", "getSharedBelow", "shares", P, "A file or directory below a shared directory", None, (200, "application/octet-stream"), ["400", "404", "416"], ["download"]),
    ("get", "/v1/volumes", "listVolumes", "files", A, "Volumes and their capacities", None, (200, page(S("Volume"))), ["401"], []),
    ("post", "/v1/volumes", "createVolume", "files", D, "Create a volume", "VolumeCreate", (201, "Volume"), ["400", "401", "403", "409"], []),
    ("patch", "/v1/volumes/{name}", "patchVolume", "files", D, "Change a volume's capacity", "VolumePatch", (200, "Volume"), ["400", "401", "403", "404"], []),
    ("delete", "/v1/volumes/{name}", "deleteVolume", "files", D, "Delete an empty volume", None, (204, None), ["401", "403", "404", "409"], []),
    ("post", "/v1/admin/fsck", "fsck", "admin", D, "Check (and with ?repair=true fix) metadata against stored bytes", None, (200, "FsckReport"), ["401", "403"], ["repair", "verify"]),
    ("post", "/v1/jobs", "submitJob", "jobs", A, "Submit a job (durable when answered; Idempotency-Key makes retries safe)", "JobSubmit", (201, "Job"), ["400", "401", "403", "404", "409", "413", "415", "429"], []),
    ("get", "/v1/jobs", "listJobs", "jobs", A, "Jobs, newest first: your own (admins: everyone's); ?project=P a project's (members); ?scope=all yours and every project's you are in", None, (200, page(S("Job"))), ["400", "401", "403", "404"], PAGE_Q + ["scope", "project", "state", "queue", "app", "user"]),
    ("get", "/v1/jobs/{id}", "getJob", "jobs", A, "A job with its state history (?wait=N: long poll until it ends); its submitter, members of its project and admins see it", None, (200, "Job"), ["400", "401", "404"], ["wait"]),
    ("post", "/v1/jobs/{id}/cancel", "cancelJob", "jobs", A, "Cancel a job (kills every process it started): its submitter, its project's owners and maintainers, admins", None, (200, "Job"), ["401", "403", "404", "409"], []),
    ("get", "/v1/jobs/{id}/logs", "getJobLogs", "jobs", A, "The job's log as text, or followed live as Server-Sent Events (?follow=1)", None, (200, "text/plain"), ["400", "401", "404"], ["follow", "after", "access_token"]),
    ("get", "/v1/apps", "listApps", "jobs", A, "Applications jobs can run", None, (200, page(S("App"))), ["401"], []),
    ("post", "/v1/apps", "createApp", "jobs", D, "Add an application", "AppPut", (201, "App"), ["400", "401", "403", "409"], []),
    ("get", "/v1/apps/{name}", "getApp", "jobs", A, "An application", None, (200, "App"), ["401", "404"], []),
    ("put", "/v1/apps/{name}", "putApp", "jobs", D, "Add or replace an application", "AppPut", (200, "App"), ["400", "401", "403"], []),
    ("delete", "/v1/apps/{name}", "deleteApp", "jobs", D, "Remove an application", None, (204, None), ["401", "403", "404"], []),
    ("get", "/v1/queues", "listQueues", "jobs", A, "Queues, their limits and running jobs", None, (200, page(S("Queue"))), ["401"], []),
    ("post", "/v1/queues", "createQueue", "jobs", D, "Add a queue", "QueuePut", (201, "Queue"), ["400", "401", "403", "409"], []),
    ("get", "/v1/queues/{name}", "getQueue", "jobs", A, "A queue", None, (200, "Queue"), ["401", "404"], []),
    ("patch", "/v1/queues/{name}", "patchQueue", "jobs", D, "Change a queue", "QueuePut", (200, "Queue"), ["400", "401", "403", "404"], []),
    ("delete", "/v1/queues/{name}", "deleteQueue", "jobs", D, "Remove a queue without active jobs", None, (204, None), ["401", "403", "404", "409"], []),
    ("get", "/v2/{path}", "registryGet", "registry", P, "OCI distribution (v1.1): GET and HEAD of /v2/, /v2/_catalog, <name>/tags/list, <name>/manifests/<ref>, <name>/blobs/<digest> (Range), <name>/blobs/uploads/<id> (status), <name>/referrers/<digest>. Errors are OCI error bodies; 401 carries a Bearer challenge naming /v1/registry/token", None, (200, "application/octet-stream"), ["400", "401", "403", "404", "416"], ["n", "last", "artifactType"]),
    ("delete", "/v2/{path}", "registryDelete", "registry", P, "OCI distribution: delete <name>/manifests/<digest or tag>, <name>/blobs/<digest>, or cancel <name>/blobs/uploads/<id>", None, (202, None), ["400", "401", "403", "404", "405"], []),
    ("post", "/v2/{path}", "registryPost", "registry", P, "OCI distribution: <name>/blobs/uploads/ starts an upload session, uploads a blob whole (?digest=) or mounts one from another repository (?mount=&from=)", "application/octet-stream", (202, None), ["400", "401", "403", "404", "405", "408"], ["digest", "mount", "from"]),
    ("put", "/v2/{path}", "registryPut", "registry", P, "OCI distribution: <name>/manifests/<ref> (at most 4 MiB), or <name>/blobs/uploads/<id>?digest= completing an upload (with an optional last chunk)", "application/octet-stream", (201, None), ["400", "401", "403", "404", "405", "408", "413"], ["digest"]),
    ("patch", "/v2/{path}", "registryPatch", "registry", P, "OCI distribution: append a chunk to <name>/blobs/uploads/<id> (Content-Range must start at the upload's offset, else 416)", "application/octet-stream", (202, None), ["400", "401", "403", "404", "405", "408", "416"], []),
    ("get", "/v1/registry/token", "registryToken", "registry", P, "A registry token (JWT, audience cove-registry) for the scopes asked (several ?scope=), granted as far as the caller's roles allow; credentials by HTTP Basic (password, personal API token or robot secret) or a cove Bearer token; none: an anonymous token granting nothing", None, (200, "RegistryToken"), ["400", "401", "429"], ["service", "scope"]),
    ("get", "/v1/projects/{name}/robots", "listRobots", "registry", A, "Robot accounts of a project (owners, maintainers)", None, (200, page(S("Robot"))), ["401", "403", "404"], []),
    ("post", "/v1/projects/{name}/robots", "createRobot", "registry", A, "Create a robot account; its login is <project>+<name> and its secret is shown once (owners, maintainers)", "RobotCreate", (201, "Robot"), ["400", "401", "403", "404", "409"], []),
    ("delete", "/v1/projects/{name}/robots/{robot}", "deleteRobot", "registry", A, "Delete a robot account", None, (204, None), ["401", "403", "404"], []),
    ("get", "/v1/projects/{name}/tag-rules", "listTagRules", "registry", A, "Immutable tag rules of a project (members)", None, (200, page(S("TagRule"))), ["401", "404"], []),
    ("post", "/v1/projects/{name}/tag-rules", "createTagRule", "registry", A, "Make tags matching a glob immutable in repositories matching a glob (owners, maintainers)", "TagRuleCreate", (201, "TagRule"), ["400", "401", "403", "404"], []),
    ("delete", "/v1/projects/{name}/tag-rules/{id}", "deleteTagRule", "registry", A, "Remove a tag rule", None, (204, None), ["401", "403", "404"], []),
    ("get", "/v1/projects/{name}/retention", "listRetentionPolicies", "registry", A, "Retention policies of a project (members)", None, (200, page(S("RetentionPolicy"))), ["401", "404"], []),
    ("post", "/v1/projects/{name}/retention", "createRetentionPolicy", "registry", A, "Keep only the last N tags matching a glob in repositories matching a glob; applied by the registry's garbage collection (owners, maintainers)", "RetentionPolicyCreate", (201, "RetentionPolicy"), ["400", "401", "403", "404"], []),
    ("delete", "/v1/projects/{name}/retention/{id}", "deleteRetentionPolicy", "registry", A, "Remove a retention policy", None, (204, None), ["401", "403", "404"], []),
    ("post", "/v1/registry/gc", "registryGc", "registry", A, "Garbage-collect the registry: apply retention, remove untagged unreferenced manifests and unreferenced blob links older than the grace period (a project: its owners and maintainers; everything: administrators)", "RegistryGcRequest", (200, "RegistryGcReport"), ["400", "401", "403", "404"], []),
    ("get", "/v1/registry/tags/{name}", "listImageTags", "registry", A, "Tags of a repository with digest, size and push time, newest first (name with slashes)", None, (200, "ImageTagList"), ["401", "404"], []),
    ("get", "/v1/registry/repositories", "listRepositories", "registry", A, "Image repositories the caller may pull from", None, (200, page(S("Repository"))), ["400", "401"], PAGE_Q),
    ("get", "/v1/registry/repositories/{name}", "getRepository", "registry", A, "One repository (name with slashes)", None, (200, "Repository"), ["401", "404"], []),
    ("patch", "/v1/registry/repositories/{name}", "patchRepository", "registry", A, "Make every tag of a repository immutable, or not (maintainers)", "RepositoryPatch", (200, "Repository"), ["400", "401", "403", "404"], []),
    ("get", "/v1/admin/overview", "adminOverview", "admin", D, "The platform at a glance: version, uptime, health, users by state, projects, jobs per queue, volumes, stored bytes, the registry (all from indexes and counters)", None, (200, "Overview"), ["401", "403"], []),
    ("get", "/v1/admin/diagnose", "adminDiagnose", "admin", D, "A bundle for a bug report: the overview, host, every setting (values that could be secrets shown as \"(set)\"), an fsck summary (?fsck=false skips it), the sandbox's limits and the last 100 warnings and errors logged", None, (200, "object"), ["400", "401", "403"], ["fsck"]),
    ("delete", "/v1/registry/images/{ref}", "deleteImage", "registry", A, "Delete a tag (<project>/<repo>:<tag>) or an image with every tag on it (<project>/<repo>@sha256:<hex>), as DELETE /v2/<name>/manifests/<ref> does, for browser sessions (maintainers, owners; immutable tags are refused)", None, (204, None), ["400", "401", "403", "404"], []),
    ("post", "/v1/admin/gc", "gc", "admin", D, "Remove unreferenced blobs older than ?grace", None, (200, "GcReport"), ["400", "401", "403"], ["grace"]),
    ("post", "/v1/admin/backup", "backup", "admin", D, "Write a consistent backup of the running server (metadata snapshot, the blobs it references, keys, job logs, TLS material, a manifest last) into a directory on the server's machine; answers once it is on disk", "BackupRequest", (200, "BackupReport"), ["400", "401", "403", "409"], []),
]

QUERY = {
    "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": 1000}, "description": "page size (default 100)"},
    "cursor": {"schema": STR, "description": "opaque cursor from next_cursor"},
    "format": {"schema": {"enum": ["json", "passwd", "group"]}, "description": "text export format"},
    "actor": {"schema": STR, "description": "only this actor"},
    "action": {"schema": STR, "description": "only this action (or family, e.g. user)"},
    "q": {"schema": {"type": "string", "maxLength": 256}, "description": "only users whose username, email or full name contains this, in any case"},
    "outcome": {"schema": {"enum": ["success", "failure"]}, "description": "only successes or only failures"},
    "target": {"schema": STR, "description": "only entries about exactly this target"},
    "since": {"schema": {"type": "string", "format": "date-time"}, "description": "only entries at or after this RFC 3339 time"},
    "until": {"schema": {"type": "string", "format": "date-time"}, "description": "only entries before this RFC 3339 time"},
    "stat": {"schema": BOOL, "description": "metadata instead of contents"},
    "mode": {"schema": STR, "description": "octal mode of a new file"},
    "recursive": {"schema": BOOL, "description": "remove a non-empty directory"},
    "repair": {"schema": BOOL, "description": "fix what can be fixed"},
    "verify": {"schema": BOOL, "description": "re-hash every blob"},
    "fsck": {"schema": BOOL, "description": "include an fsck summary (default true)"},
    "grace": {"schema": STR, "description": "only blobs untouched this long (default 1h)"},
    "state": {"schema": STR, "description": "only jobs in this state"},
    "queue": {"schema": STR, "description": "only jobs of this queue"},
    "user": {"schema": STR, "description": "only this user's jobs (admins; others within project= or scope=all)"},
    "project": {"schema": STR, "description": "only the jobs of this project (you must be a member; 404 otherwise)"},
    "app": {"schema": STR, "description": "only jobs of this application"},
    "scope": {"schema": {"enum": ["own", "all"]}, "description": "own: your jobs (users' default); all: every job you may see, yours and your projects' (admins': everyone's; the default with project=)"},
    "wait": {"schema": {"type": "integer", "minimum": 0, "maximum": 60}, "description": "seconds to wait for the job to end"},
    "follow": {"schema": BOOL, "description": "stream as Server-Sent Events until the job ends"},
    "after": {"schema": INT, "description": "resume after this byte offset (or Last-Event-ID)"},
    "n": {"schema": {"type": "integer", "minimum": 0}, "description": "page size (tags/list, _catalog)"},
    "last": {"schema": STR, "description": "continue after this tag or repository"},
    "artifactType": {"schema": STR, "description": "referrers: only this artifact type"},
    "digest": {"schema": STR, "description": "sha256:<hex> of the blob being uploaded"},
    "mount": {"schema": STR, "description": "digest of a blob to mount from another repository"},
    "from": {"schema": STR, "description": "repository to mount from"},
    "service": {"schema": STR, "description": "must be cove when given"},
    "scope": {"schema": STR, "description": "repository:<name>:<actions> or registry:catalog:*; repeatable"},
    "access_token": {"schema": STR, "description": "the bearer token, for browsers' EventSource, which cannot send headers"},
    "download": {"schema": BOOL, "description": "answer Content-Disposition: attachment (a browser saves the file)"},
    "archive": {"schema": {"enum": ["tar.gz", "zip"]}, "description": "a directory as an archive of what the caller may read, with its names, modes, times and empty directories"},
}


def content(kind):
    if kind is None:
        return None
    if isinstance(kind, dict):
        return {"application/json": {"schema": kind}}
    if "/" in kind:
        return {kind: {"schema": {"type": "string", "format": "binary"} if "octet" in kind else STR}}
    if kind == "object":
        return {"application/json": {"schema": {"type": "object"}}}
    return {"application/json": {"schema": S(kind)}}


def operation(method, path, op_id, tag, access, summary, body, ok, errors, query):
    op = {"operationId": op_id, "summary": summary, "tags": [tag]}
    if access == P:
        op["security"] = []
    params = []
    for name in [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]:
        params.append({"name": name, "in": "path", "required": True, "schema": STR})
    for q in query:
        # a name from QUERY, or (name, its schema and description here)
        name, spec = q if isinstance(q, tuple) else (q, QUERY[q])
        params.append(dict({"name": name, "in": "query", "required": False}, **spec))
    if params:
        op["parameters"] = params
    if body:
        c = content(body)
        op["requestBody"] = {"required": body not in ("Logout", "MePatch"), "content": c}
    status, kind = ok
    resp = {"description": "success"}
    c = content(kind)
    if c:
        resp["content"] = c
    op["responses"] = {str(status): resp}
    if method == "get" and kind == "application/octet-stream":
        op["responses"]["206"] = {"description": "part of a file (Range)"}
        op["responses"]["304"] = {"description": "not modified (If-None-Match)"}
    if op_id in USER_CONTENT:
        for code in ("200", "206"):
            op["responses"][code]["headers"] = USER_CONTENT_HEADERS
        if op_id == "getPath":
            op["responses"]["200"]["content"].update(ARCHIVES)
    for e in errors:
        op["responses"][e] = {"$ref": "#/components/responses/" + ERRORS[e]}
    return op


def main():
    paths = {}
    for r in ROUTES:
        paths.setdefault(r[1], {})[r[0]] = operation(*r)
    responses = {}
    for code, name in ERRORS.items():
        resp = {"description": name, "content": {"application/problem+json": {"schema": S("Problem")}}}
        if code in ("429", "503"):
            resp["headers"] = {"Retry-After": {"schema": INT, "description": "seconds"}}
        if code == "401":
            resp["headers"] = {"WWW-Authenticate": {"schema": STR}}
        responses[name] = resp
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "cove", "version": "0.1.0",
                 "description": "cove: a multi-tenant workbench for data analysis. Errors are "
                                "RFC 9457 problem documents; lists page with limit and cursor."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "tags": [{"name": t} for t in ["system", "auth", "me", "tokens", "users", "groups",
                                       "projects", "files", "shares", "admin", "audit",
                                       "registry"]],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "access token (JWT, EdDSA) or personal API token (cove_pat_...)"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "cove_session",
                                            "description": "a browser session (POST /v1/auth/session); requests that change state also need the session's X-CSRF-Token header, and a same-origin Origin when one is sent"}},
            "schemas": SCHEMAS,
            "responses": responses,
        },
    }
    text = json.dumps(doc, indent=2) + "\n"
    target = os.path.join(ROOT, "docs", "openapi.json")
    if "--check" in sys.argv:
        if open(target).read() != text:
            sys.exit("docs/openapi.json is stale: run python3 scripts/openapi.py")
        return
    with open(target, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
