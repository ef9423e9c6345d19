//! The endpoints page and the OpenAPI 3.1 document of the API, made from [`ENDPOINTS`] (the list the router is checked
//! against): every path with its method, scope, parameters, body and answers.

use serde_json::{json, Map, Value};

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{Endpoint, ENDPOINTS, MAX_WAIT_SECS};
use app::types::Scope;

/// A query parameter an endpoint takes.
struct Query {
    name: &'static str,
    schema: Value,
    description: &'static str,
}

fn query_parameters(endpoint: &Endpoint) -> Vec<Query> {
    let wait = Query {
        name: "wait",
        schema: json!({ "type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECS }),
        description: "Answer once the loan has moved on (ready, failed, …), waiting at most this many seconds.",
    };
    match (endpoint.method, endpoint.path) {
        ("GET", "/api/v1/loans") => vec![
            Query {
                name: "scope",
                schema: json!({ "type": "string", "enum": ["mine", "all"] }),
                description: "`all`: everyone's loans (an admin's token with the admin scope).",
            },
            Query {
                name: "state",
                schema: json!({ "type": "string" }),
                description: "Comma-separated states, or `active` for every open one.",
            },
            Query {
                name: "pool",
                schema: json!({ "type": "string" }),
                description: "A pool's slug.",
            },
            Query {
                name: "before",
                schema: json!({ "type": "integer" }),
                description: "The `next` of the previous page.",
            },
            Query {
                name: "limit",
                schema: json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 50 }),
                description: "Loans per page.",
            },
        ],
        ("POST", "/api/v1/loans")
        | ("GET", "/api/v1/loans/{id}")
        | ("POST", "/api/v1/machines/{host}/actions")
        | ("GET", "/api/v1/machines/{host}/actions/{id}") => vec![wait],
        ("POST", "/api/v1/approvals/{id}/approve") => vec![Query {
            name: "duration_hours",
            schema: json!({ "type": "integer", "minimum": 1 }),
            description: "Approve for fewer hours than asked.",
        }],
        ("GET", "/api/v1/machines") => vec![
            Query {
                name: "state",
                schema: json!({ "type": "string" }),
                description: "Only machines in this state.",
            },
            Query {
                name: "page",
                schema: json!({ "type": "integer", "minimum": 1 }),
                description: "The page, from 1.",
            },
        ],
        ("GET", "/api/v1/audit") => ["actor", "target", "kind", "from", "to", "before"]
            .into_iter()
            .map(|name| Query {
                name,
                schema: json!({ "type": "string" }),
                description: "As on the audit log page (dates as YYYY-MM-DD; `before`: the last entry's id of the previous page).",
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The answer's schema of a successful call.
fn answer(endpoint: &Endpoint) -> (&'static str, Value) {
    let loan = json!({ "$ref": "#/components/schemas/Loan" });
    match (endpoint.method, endpoint.path) {
        ("GET", "/api/v1/me") => ("200", json!({ "$ref": "#/components/schemas/Me" })),
        ("GET", "/api/v1/pools") => (
            "200",
            json!({ "type": "object", "required": ["pools"], "properties": {
                "pools": { "type": "array", "items": { "$ref": "#/components/schemas/Pool" } } } }),
        ),
        ("GET", "/api/v1/loans") => (
            "200",
            json!({ "type": "object", "required": ["loans", "next"], "properties": {
                "loans": { "type": "array", "items": { "$ref": "#/components/schemas/LoanSummary" } },
                "next": { "type": ["integer", "null"], "description": "`before` for the next page; null on the last." } } }),
        ),
        ("POST", "/api/v1/loans") => ("201", loan),
        (_, path) if path.starts_with("/api/v1/loans/") => ("200", loan),
        ("POST", "/api/v1/machines/{host}/actions") => {
            ("202", json!({ "$ref": "#/components/schemas/Action" }))
        }
        ("GET", "/api/v1/machines/{host}/actions/{id}") => {
            ("200", json!({ "$ref": "#/components/schemas/Action" }))
        }
        _ => ("200", json!({ "type": "object" })),
    }
}

fn operation_id(endpoint: &Endpoint) -> String {
    let words: Vec<&str> = endpoint
        .path
        .trim_start_matches("/api/v1/")
        .split('/')
        .map(|w| if w.starts_with('{') { "by_id" } else { w })
        .collect();
    format!("{}_{}", endpoint.method.to_lowercase(), words.join("_"))
}

fn operation(endpoint: &Endpoint) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    if endpoint.path.contains("{host}") {
        parameters.push(json!({ "name": "host", "in": "path", "required": true,
            "schema": { "type": "string" }, "description": "The machine's name, as in the inventory." }));
    }
    if endpoint.path.contains("{id}") {
        let what = if endpoint.path.contains("/actions/") {
            "The action's number."
        } else {
            "The loan's number."
        };
        parameters.push(json!({ "name": "id", "in": "path", "required": true,
            "schema": { "type": "integer" }, "description": what }));
    }
    for query in query_parameters(endpoint) {
        parameters.push(
            json!({ "name": query.name, "in": "query", "required": false,
            "schema": query.schema, "description": query.description }),
        );
    }
    let (status, schema) = answer(endpoint);
    let error = json!({ "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut responses = Map::new();
    responses.insert(
        status.to_owned(),
        json!({ "description": "Done.", "content": { "application/json": { "schema": schema } } }),
    );
    for (code, why) in [
        ("400", "The request could not be read."),
        ("401", "No API token, or one that is unknown, expired or revoked."),
        ("403", "The token lacks the scope (`rule`: `token_scope`), or a policy refused (`rule` names it)."),
        ("404", "No such loan, or one that is not yours."),
        ("409", "The loan cannot change that way now."),
        ("422", "Invalid fields; `fields` names each."),
        ("429", "Too many calls with this token; see `Retry-After`."),
    ] {
        let mut answer = error.clone();
        answer["description"] = json!(why);
        responses.insert(code.to_owned(), answer);
    }
    let mut op = json!({
        "operationId": operation_id(endpoint),
        "summary": endpoint.summary,
        "description": match endpoint.scope {
            Some(scope) => format!("Needs the `{scope}` scope."),
            None => "Any live token.".to_owned(),
        },
        "parameters": parameters,
        "responses": responses,
        "security": [{ "token": endpoint.scope.map(Scope::as_str).into_iter().collect::<Vec<_>>() }],
    });
    let body = match endpoint.path {
        "/api/v1/loans" if endpoint.method == "POST" => Some("NewLoan"),
        "/api/v1/approvals/{id}/deny" => Some("Deny"),
        "/api/v1/machines/{host}/actions" => Some("RunAction"),
        _ => None,
    };
    if let Some(schema) = body {
        op["requestBody"] = json!({ "required": true, "content": { "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
    }
    op
}

/// The whole document.
pub fn document(server_url: &str) -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let entry = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[endpoint.method.to_lowercase()] = operation(endpoint);
    }
    let loose = |description: &str| json!({ "type": "object", "description": description });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Loaner API",
            "version": "1",
            "description": "Borrow test and build machines from scripts. Make a token on the API tokens page and send it as `Authorization: Bearer loaner_…`.",
        },
        "servers": [{ "url": server_url }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": { "type": "http", "scheme": "bearer", "description": "A personal API token (`loaner_…`)." },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": {
                        "type": "object",
                        "required": ["code", "message", "fields"],
                        "properties": {
                            "code": { "type": "string", "enum": ["unauthorized", "forbidden", "refused", "rate_limited", "too_large", "not_found", "invalid", "conflict", "bad_request", "internal"] },
                            "message": { "type": "string" },
                            "fields": { "type": "array", "items": { "type": "object", "required": ["field", "message"], "properties": {
                                "field": { "type": "string" }, "message": { "type": "string" } } } },
                            "rule": { "type": "string", "description": "The rule that refused (`max_loans_per_user`, `token_scope`, …)." },
                        },
                    } },
                },
                "NewLoan": {
                    "type": "object",
                    "required": ["pool", "reason", "ssh_public_key"],
                    "additionalProperties": false,
                    "properties": {
                        "pool": { "type": "string", "description": "The pool's slug." },
                        "reason": { "type": "string" },
                        "bug_ref": { "type": ["string", "null"] },
                        "duration_hours": { "type": ["integer", "null"], "description": "The pool's default when left out." },
                        "ssh_public_key": { "type": "string" },
                        "wait_in_line": { "type": "boolean", "default": false },
                    },
                },
                "Deny": { "type": "object", "required": ["reason"], "additionalProperties": false,
                    "properties": { "reason": { "type": "string" } } },
                "RunAction": { "type": "object", "required": ["action"], "additionalProperties": false,
                    "properties": {
                        "action": { "type": "string", "enum": ["status", "power_on", "power_off", "reboot", "reimage"] },
                        "reason": { "type": "string", "description": "Required when the machine is on loan." } } },
                "Action": { "type": "object", "required": ["id", "action", "state"], "properties": {
                    "id": { "type": "integer" },
                    "action": { "type": "string" },
                    "state": { "type": "string", "enum": ["queued", "running", "succeeded", "failed"] },
                    "output": { "type": "string" },
                    "error": { "type": ["string", "null"] } } },
                "Me": loose("The token's owner (id, name, email, role) and the token (id, name, scopes, effective_scopes)."),
                "Pool": loose("A pool: slug, name, platform, description, image, free and total machines, waiting loans, policy, caps."),
                "LoanSummary": {
                    "type": "object",
                    "required": ["id", "state", "pool_slug", "requested_at"],
                    "properties": {
                        "id": { "type": "integer" },
                        "state": { "type": "string" },
                        "pool_slug": { "type": "string" },
                        "pool_name": { "type": "string" },
                        "machine_fqdn": { "type": ["string", "null"] },
                        "reason": { "type": "string" },
                        "bug_ref": { "type": ["string", "null"] },
                        "requested_at": { "type": "string", "format": "date-time" },
                        "expires_at": { "type": ["string", "null"], "format": "date-time" },
                    },
                },
                "Loan": {
                    "type": "object",
                    "required": ["summary", "events"],
                    "properties": {
                        "summary": { "$ref": "#/components/schemas/LoanSummary" },
                        "duration_hours": { "type": "integer" },
                        "queue_position": { "type": ["integer", "null"] },
                        "connection": { "type": ["object", "null"], "properties": {
                            "fqdn": { "type": "string" }, "user": { "type": "string" }, "ssh_command": { "type": "string" } } },
                        "events": { "type": "array", "items": { "type": "object" } },
                    },
                },
            },
        },
    })
}

/// `GET /api/v1/docs`: the endpoints, for people (no token needed).
pub async fn docs() -> Response {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let rows: String = ENDPOINTS
        .iter()
        .map(|e| {
            format!(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                e.method,
                escape(e.path),
                e.scope.map_or("any", Scope::as_str),
                escape(e.summary)
            )
        })
        .collect();
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>API · Loaner</title><link rel=\"stylesheet\" href=\"/pkg/loaner.css\"></head><body><main class=\"page\"><h1>Loaner API v1</h1>\
         <p class=\"lead\">JSON over HTTPS. Send a personal API token (make one on <a href=\"/account/tokens\">API tokens</a>) as <code>Authorization: Bearer loaner_…</code>; a browser's sign-in does not count here. A token acts as its owner, limited by its scopes and its owner's role. The OpenAPI 3.1 document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\
         <p>Errors have one shape: <code>{{\"error\": {{\"code\", \"message\", \"fields\": [{{\"field\", \"message\"}}], \"rule\"}}}}</code>. Lists take <code>limit</code> (1–100) and <code>before</code> (the <code>next</code> of the previous page).</p>\
         <div class=\"table-wrap\"><table class=\"table\"><thead><tr><th>Method</th><th>Path</th><th>Scope</th><th>What it does</th></tr></thead><tbody>{rows}</tbody></table></div></main></body></html>"
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        ],
        page,
    )
        .into_response()
}
