//! `/openapi.json` is OpenAPI 3.1 and documents every REST route the server serves.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Every REST call of SPEC §1.1, §2.1, §3.2 and §5, plus the operations endpoints of §6.3. A
/// route the server answers must be in the document; routes of later issues join automatically
/// once served.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("get", "/api/users/me"),
    ("patch", "/api/users/me"),
    ("post", "/api/rooms"),
    ("get", "/api/rooms"),
    ("get", "/api/rooms/{roomId}"),
    ("delete", "/api/rooms/{roomId}"),
    ("get", "/api/topics"),
    ("get", "/api/topics/{topicId}"),
    ("put", "/api/topics/{topicId}"),
    ("delete", "/api/topics/{topicId}"),
    ("post", "/api/topics/{topicId}/words"),
    ("delete", "/api/topics/{topicId}/words/{wordId}"),
    ("get", "/api/rooms/current"),
    ("get", "/api/users/me/games"),
    ("get", "/api/games/{gameId}"),
    ("get", "/api/leaderboard"),
    ("get", "/api/users/{userId}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

async fn document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router has a handler for this method and path (a missing route answers the
/// router's own `NOT_FOUND` or `METHOD_NOT_ALLOWED`; a missing resource has another code).
async fn served(app: &TestApp, method: &str, path: &str) -> bool {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let r = app
        .client
        .request(method, app.url(&concrete(path)))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let (_, code) = code_of(r).await;
    !(status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && code == "NOT_FOUND"))
}

#[tokio::test]
async fn the_document_is_openapi_3_1() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let spec = oas3::from_json(doc.to_string()).expect("parses as an OpenAPI 3.1 document");
    assert_eq!(spec.info.title, "Liar");
    // Every operation names its failures as problem documents, except pure probes.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}"
            );
            // Reads of static data and probes have no failure to document.
            let probe = ["/healthz", "/metrics", "/api/topics"].contains(&path.as_str());
            assert!(
                probe
                    || responses
                        .keys()
                        .any(|s| s.starts_with('4') || s.starts_with('5')),
                "{method} {path} documents no error response"
            );
        }
    }
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_server_serves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    for (method, path) in &documented {
        assert!(
            served(&app, method, path).await,
            "documented but not served: {method} {path}"
        );
    }
    for (method, path) in SPEC_ROUTES {
        if served(&app, method, path).await {
            assert!(
                documented.iter().any(|(m, p)| m == method && p == path),
                "served but not documented: {method} {path}"
            );
        }
    }
    assert!(documented.len() >= 9, "{documented:?}");
}

/// Follows a `$ref` to its component.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    }
}

fn query_param<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
    let p = params.iter().find(|p| p["name"] == name).unwrap();
    resolve(doc, &p["schema"])
}

fn body_schema<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    resolve(
        doc,
        &op["requestBody"]["content"]["application/json"]["schema"],
    )
}

#[tokio::test]
async fn the_document_says_what_the_server_refuses() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    // Every JSON body can be refused as too large or of the wrong media type.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                for status in ["413", "415"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path}: {status}"
                    );
                }
            }
        }
    }
    for path in ["/api/leaderboard", "/api/rooms", "/api/users/me/games"] {
        let limit = query_param(&doc, path, "limit");
        assert_eq!(
            (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
            (Some(1), Some(50)),
            "{path}"
        );
    }
    let status = query_param(&doc, "/api/rooms", "status");
    assert_eq!(status["enum"], serde_json::json!(["waiting", "playing"]));

    let register = body_schema(&doc, "post", "/api/auth/register");
    let username = resolve(&doc, &register["properties"]["username"]);
    assert_eq!(
        (
            username["minLength"].as_i64(),
            username["maxLength"].as_i64()
        ),
        (Some(2), Some(20))
    );
    assert!(
        username["pattern"].as_str().unwrap().contains("\\u202e"),
        "bidi overrides excluded"
    );
    let patch = body_schema(&doc, "patch", "/api/users/me");
    let nullable = &patch["properties"]["username"]["oneOf"];
    assert_eq!(resolve(&doc, &nullable[0]), username, "{nullable}");

    for (path, fields) in [
        ("/api/auth/register", &["email", "username", "password"][..]),
        ("/api/auth/login", &["email", "password"]),
        ("/api/auth/refresh", &["refreshToken"]),
        ("/api/rooms", &["name"]),
    ] {
        let body = body_schema(&doc, "post", path);
        for field in fields {
            assert!(
                body["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == field),
                "{path}: {field} required"
            );
            let schema = resolve(&doc, &body["properties"][field]);
            assert!(
                schema.get("$ref").is_some() || schema["type"] == "string",
                "{path}: {field} is a non-null string: {schema}"
            );
        }
    }
}
