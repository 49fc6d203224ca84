//! Running the steps: requests through the host (redirects followed here,
//! hop by hop, so every hop's cookies land in the jar), expectations judged,
//! values captured for later steps, secrets blanked in what it reports.

use std::collections::BTreeMap;

use pitwall_check::excerpt;

use crate::config::Body;
use crate::jar::Jar;
use crate::mask::Secrets;
use crate::url::Url;
use crate::vars::substitute;
use crate::{Config, Outcome, Step, Verdict, form, json};

/// Redirect hops one step follows at most (the host's own limit too).
pub const MAX_REDIRECTS: usize = 10;

/// Characters of a body shown in evidence.
const BODY_EXCERPT: usize = 300;

/// A request as the host should send it. The host never follows redirects
/// for the probe: it does, so it sees every hop's cookies.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: Option<u32>,
}

pub use pitwall_check::http::Response;

/// What the probe saw, kept whole until the verdict so secrets captured
/// later are blanked everywhere, before bodies are cut to an excerpt (a cut
/// must not leave half a token).
enum Fact {
    Text(String),
    Body(String),
}

/// One run: variables, the cookie jar, the secrets to blank and the
/// evidence so far.
struct Run {
    vars: BTreeMap<String, String>,
    jar: Jar,
    secrets: Secrets,
    evidence: Vec<(String, Fact)>,
}

impl Run {
    fn verdict(self, outcome: Outcome, summary: &str) -> Verdict {
        let mask = |t: &str| self.secrets.mask(t);
        let evidence = self
            .evidence
            .iter()
            .map(|(label, fact)| {
                let value = match fact {
                    Fact::Text(t) => mask(t),
                    Fact::Body(b) => excerpt(&mask(b), BODY_EXCERPT),
                };
                (label.clone(), value)
            })
            .collect::<Vec<_>>();
        Verdict::with_evidence(outcome, mask(summary), evidence)
    }

    /// Keeps every cookie value as a secret, including those a later
    /// response deletes.
    fn remember_cookies(&mut self) {
        for v in self.jar.values() {
            self.secrets.add(v);
        }
    }
}

/// Runs the steps in order with `send`, substituting `${var}` from `vars` and
/// from earlier captures, with one cookie jar whose clock reads `now_ms`;
/// stops at the first step that does not pass.
pub fn probe(
    config: &Config,
    vars: &BTreeMap<String, String>,
    now_ms: u64,
    mut send: impl FnMut(Request) -> Result<Response, String>,
) -> Verdict {
    let mut run = Run {
        vars: vars.clone(),
        jar: Jar::new(now_ms),
        secrets: Secrets::default(),
        evidence: Vec::new(),
    };
    let many = config.steps.len() > 1;
    let mut summaries = Vec::new();
    for step in &config.steps {
        let label = |l: &str| {
            if many {
                format!("{}.{l}", step.name)
            } else {
                l.to_string()
            }
        };
        let url = substitute(&step.url, &run.vars);
        let what = format!("{} {url}", step.method);
        let exchange = match exchange(step, &url, &mut run, &mut send) {
            Ok(e) => e,
            Err(e) => {
                run.remember_cookies();
                run.evidence.push((label("error"), Fact::Text(e.clone())));
                return run.verdict(Outcome::Fail, &format!("{what}: {e}"));
            }
        };
        run.remember_cookies();
        let Exchange {
            response,
            url: final_url,
            hops,
            sent_cookies,
        } = exchange;
        let body = String::from_utf8_lossy(&response.body).into_owned();
        let mut facts = vec![
            ("status", Fact::Text(response.status.to_string())),
            ("latency_ms", Fact::Text(response.elapsed_ms.to_string())),
        ];
        if !hops.is_empty() {
            facts.push(("redirects", Fact::Text(hops.join(", "))));
        }
        if !sent_cookies.is_empty() {
            facts.push(("cookies_sent", Fact::Text(sent_cookies.join(", "))));
        }
        facts.push(("body", Fact::Body(body.clone())));
        run.evidence
            .extend(facts.into_iter().map(|(l, f)| (label(l), f)));
        if let Err(problem) = judge(step, &response, &body, &run.vars) {
            return run.verdict(Outcome::Fail, &format!("{what}: {problem}"));
        }
        for c in &step.capture {
            match c.source.read(&response, &body, &run.jar, &final_url) {
                Some(value) => {
                    run.secrets.add(&value);
                    run.vars.insert(c.var.clone(), value);
                }
                None => {
                    let cut = if response.truncated {
                        " (body truncated by the host)"
                    } else {
                        ""
                    };
                    let of_step = if many {
                        format!(" of step `{}`", step.name)
                    } else {
                        String::new()
                    };
                    return run.verdict(
                        Outcome::Fail,
                        &format!(
                            "{what}: capture `{}`{of_step} found nothing: no {} of the response{cut}",
                            c.var,
                            c.source.describe()
                        ),
                    );
                }
            }
        }
        let after = match hops.len() {
            0 => String::new(),
            1 => " after 1 redirect".into(),
            n => format!(" after {n} redirects"),
        };
        summaries.push(format!(
            "{what} → {}{after} in {} ms",
            response.status, response.elapsed_ms
        ));
    }
    run.verdict(Outcome::Pass, &summaries.join("; "))
}

/// A step's request and its answer, after any redirects.
struct Exchange {
    /// The last hop's response; `elapsed_ms` is all hops' together.
    response: Response,
    /// The URL that answered last.
    url: Url,
    /// `302 → http://…` per redirect followed.
    hops: Vec<String>,
    /// Names of the cookies the first request carried.
    sent_cookies: Vec<String>,
}

/// Sends a step's request, keeping every response's cookies and following
/// redirects when the step says so.
fn exchange(
    step: &Step,
    url: &str,
    run: &mut Run,
    send: &mut impl FnMut(Request) -> Result<Response, String>,
) -> Result<Exchange, String> {
    let mut current = Url::parse(url)?;
    let mut method = step.method.clone();
    let mut headers: Vec<(String, String)> = step
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v, &run.vars)))
        .collect();
    let body = match &step.body {
        Body::None => None,
        Body::Raw(b) => Some(substitute(b, &run.vars)),
        Body::Form(fields) => {
            if !has(&headers, "content-type") {
                headers.push(("Content-Type".into(), form::CONTENT_TYPE.into()));
            }
            let values: Vec<(&str, String)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), substitute(v, &run.vars)))
                .collect();
            Some(form::encode(values.iter().map(|(k, v)| (*k, v.as_str()))))
        }
    };
    let mut body = body.map(String::into_bytes);
    let sent_cookies = run
        .jar
        .names_for(&current)
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut hops = Vec::new();
    let mut elapsed_ms: u32 = 0;
    let mut target = url.to_string();
    loop {
        let mut request_headers = headers.clone();
        if let Some(cookies) = run.jar.header_for(&current) {
            // The step's own Cookie header, if any, goes first.
            match request_headers
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            {
                Some((_, v)) => *v = format!("{v}; {cookies}"),
                None => request_headers.push(("Cookie".into(), cookies)),
            }
        }
        let mut response = send(Request {
            method: method.clone(),
            url: target.clone(),
            headers: request_headers,
            body: body.clone(),
            timeout_ms: step.timeout_ms,
        })?;
        elapsed_ms = elapsed_ms.saturating_add(response.elapsed_ms);
        for (name, value) in &response.headers {
            if name.eq_ignore_ascii_case("set-cookie") {
                run.jar.store(&current, value);
            }
        }
        let location = response.header("location").map(str::to_string);
        let redirect = matches!(response.status, 301 | 302 | 303 | 307 | 308);
        let (true, true, Some(location)) = (step.follow_redirects, redirect, location) else {
            response.elapsed_ms = elapsed_ms;
            return Ok(Exchange {
                response,
                url: current,
                hops,
                sent_cookies,
            });
        };
        if hops.len() == MAX_REDIRECTS {
            return Err(format!(
                "more than {MAX_REDIRECTS} redirects (last to {location})"
            ));
        }
        let next = current
            .join(&location)
            .map_err(|e| format!("redirect {} to `{location}`: {e}", response.status))?;
        // As browsers do: 303, and 301/302 after a POST, fetch the target
        // with GET and no body; 307/308 repeat the request as it was.
        let to_get = (response.status == 303 && method != "HEAD")
            || (matches!(response.status, 301 | 302) && method == "POST");
        if to_get {
            method = "GET".into();
            body = None;
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        }
        // Credentials the step wrote are for the origin it wrote them for.
        if next.origin() != current.origin() {
            headers.retain(|(k, _)| !CREDENTIAL_HEADERS.iter().any(|c| k.eq_ignore_ascii_case(c)));
        }
        hops.push(format!("{} → {next}", response.status));
        target = next.to_string();
        current = next;
    }
}

/// Headers that carry a credential for one origin: dropped on a redirect to
/// another.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrftoken",
    "x-xsrf-token",
];

fn has(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

fn judge(
    step: &Step,
    response: &Response,
    body: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(), String> {
    let ranges = step.expect_status.ranges()?;
    if !ranges
        .iter()
        .any(|(a, b)| (*a..=*b).contains(&response.status))
    {
        return Err(format!(
            "status {} (expected {})",
            response.status,
            step.expect_status.describe()
        ));
    }
    if let Some(max) = step.max_latency_ms
        && u64::from(response.elapsed_ms) > max
    {
        return Err(format!("took {} ms (max {max} ms)", response.elapsed_ms));
    }
    if let Some(needle) = &step.body_contains {
        let needle = substitute(needle, vars);
        if !body.contains(&needle) {
            let cut = if response.truncated {
                " (body truncated by the host)"
            } else {
                ""
            };
            return Err(format!("body does not contain {needle:?}{cut}"));
        }
    }
    if let Some(path) = &step.json_field {
        let Some(found) = json::at(body, path) else {
            return Err(format!("JSON field `{path}` not found in the body"));
        };
        if let Some(want) = &step.json_equals {
            let want = match want {
                serde_json::Value::String(s) => serde_json::Value::String(substitute(s, vars)),
                other => other.clone(),
            };
            if found != want {
                return Err(format!("JSON field `{path}` is {found}, expected {want}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 12:00:00 UTC.
    const NOW: u64 = 1_796_644_800_000;

    fn ok(status: u16, body: &str, ms: u32) -> Result<Response, String> {
        Ok(Response {
            elapsed_ms: ms,
            ..Response::new(status, body)
        })
    }

    fn with(status: u16, body: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
        Ok(Response {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            elapsed_ms: 1,
            ..Response::new(status, body)
        })
    }

    fn run(config: &str, responses: Vec<Result<Response, String>>) -> (Verdict, Vec<Request>) {
        let config = Config::parse(config).unwrap();
        let vars = BTreeMap::from([("release_id".to_string(), "r42".to_string())]);
        let mut responses = responses.into_iter();
        let mut sent = Vec::new();
        let f = probe(&config, &vars, NOW, |req| {
            sent.push(req);
            responses.next().expect("no more canned responses")
        });
        (f, sent)
    }

    fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn everything(v: &Verdict) -> String {
        let mut all = v.summary.clone();
        for e in &v.evidence {
            all.push_str(&format!("\n{}={}", e.label, e.value));
        }
        all
    }

    #[test]
    fn status_classes_ranges_and_lists() {
        let (f, _) = run(r#"{"url":"http://h/"}"#, vec![ok(204, "", 1)]);
        assert_eq!(f.outcome, Outcome::Pass);
        let (f, _) = run(r#"{"url":"http://h/"}"#, vec![ok(503, "down", 1)]);
        assert_eq!(f.outcome, Outcome::Fail);
        assert_eq!(f.summary, "GET http://h/: status 503 (expected 2xx)");
        let list = r#"{"url":"http://h/","expect_status":[301,"400-404","2xx"]}"#;
        for status in [301, 400, 404, 200, 299] {
            let (f, _) = run(list, vec![ok(status, "", 1)]);
            assert_eq!(f.outcome, Outcome::Pass, "{status}");
        }
        for status in [302, 405, 500] {
            let (f, _) = run(list, vec![ok(status, "", 1)]);
            assert_eq!(
                f.summary,
                format!("GET http://h/: status {status} (expected 301|400-404|2xx)")
            );
        }
        assert!(Config::parse(r#"{"url":"http://h/","expect_status":"9xx"}"#).is_err());
        assert!(Config::parse(r#"{"url":"http://h/","expect_status":[200,"abc"]}"#).is_err());
    }

    #[test]
    fn json_field_equals_release_id() {
        let c =
            r#"{"url":"http://h/v","json_field":"build.version","json_equals":"${release_id}"}"#;
        let (f, _) = run(c, vec![ok(200, r#"{"build":{"version":"r42"}}"#, 1)]);
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        let (f, _) = run(c, vec![ok(200, r#"{"build":{"version":"r41"}}"#, 1)]);
        assert!(
            f.summary.contains(r#"is "r41", expected "r42""#),
            "{}",
            f.summary
        );
    }

    #[test]
    fn latency_and_body() {
        let (f, _) = run(
            r#"{"url":"http://h/","max_latency_ms":10}"#,
            vec![ok(200, "", 11)],
        );
        assert!(f.summary.contains("took 11 ms (max 10 ms)"));
        let (f, _) = run(
            r#"{"url":"http://h/","body_contains":"openapi"}"#,
            vec![ok(200, "<html>", 1)],
        );
        assert!(f.summary.contains("does not contain \"openapi\""));
    }

    #[test]
    fn steps_capture_and_stop_at_first_failure() {
        let c = r#"{"steps":[
            {"name":"login","method":"post","url":"http://h/login","body":"{}","capture":{"token":"token"}},
            {"name":"logout","method":"POST","url":"http://h/logout","headers":{"Authorization":"Bearer ${token}"}}
        ]}"#;
        let (f, sent) = run(c, vec![ok(200, r#"{"token":"t0k"}"#, 2), ok(204, "", 1)]);
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        assert_eq!(sent[0].method, "POST");
        assert_eq!(
            sent[1].headers,
            vec![("Authorization".into(), "Bearer t0k".into())]
        );
        assert_eq!(f.evidence("logout.status"), Some("204"));

        let (f, sent) = run(c, vec![ok(401, "no", 2)]);
        assert_eq!(f.outcome, Outcome::Fail);
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn transport_errors_fail_with_the_error() {
        let (f, _) = run(
            r#"{"url":"http://h/"}"#,
            vec![Err("connection refused".into())],
        );
        assert_eq!(f.outcome, Outcome::Fail);
        assert_eq!(f.summary, "GET http://h/: connection refused");
    }

    /// Django's login: GET the form (csrftoken cookie + token in the
    /// page), POST it url-encoded, follow the 302 that sets the session,
    /// then a page behind the login.
    const DJANGO: &str = r#"{"steps":[
        {"name":"form","url":"http://app/accounts/login/",
         "capture":{"csrf":{"regex":"name=\"csrfmiddlewaretoken\" value=\"([^\"]+)\""}}},
        {"name":"login","method":"POST","url":"http://app/accounts/login/",
         "form":{"csrfmiddlewaretoken":"${csrf}","username":"pitwall","password":"s3cret pass"},
         "follow_redirects":true,"body_contains":"Welcome",
         "capture":{"session":{"cookie":"sessionid"}}},
        {"name":"home","url":"http://app/private/","body_contains":"Welcome"}
    ]}"#;

    fn django_answers() -> Vec<Result<Response, String>> {
        let form = r#"<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="FormTok3nXYZ"><input name="username"></form>"#;
        vec![
            with(
                200,
                form,
                &[("Set-Cookie", "csrftoken=C00kieTok3n; Path=/; SameSite=Lax")],
            ),
            with(
                302,
                "",
                &[
                    ("Location", "/private/"),
                    ("Set-Cookie", "sessionid=Sess10nABC; HttpOnly; Path=/"),
                    ("Set-Cookie", "csrftoken=Rotat3dTok; Path=/"),
                ],
            ),
            with(200, "Welcome pitwall, your token is FormTok3nXYZ", &[]),
            with(200, "Welcome back pitwall (Sess10nABC)", &[]),
        ]
    }

    #[test]
    fn a_django_session_login_with_csrf() {
        let (f, sent) = run(DJANGO, django_answers());
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        assert_eq!(sent.len(), 4);
        assert_eq!(header(&sent[0], "cookie"), None);
        // The form, url-encoded, with the token from the page and the cookie
        // from the first response.
        assert_eq!(sent[1].method, "POST");
        assert_eq!(
            String::from_utf8(sent[1].body.clone().unwrap()).unwrap(),
            "csrfmiddlewaretoken=FormTok3nXYZ&password=s3cret+pass&username=pitwall"
        );
        assert_eq!(
            header(&sent[1], "content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(header(&sent[1], "cookie"), Some("csrftoken=C00kieTok3n"));
        // The 302 is followed by the probe: a GET without body, carrying the
        // session set on the 302 itself.
        assert_eq!(
            (sent[2].method.as_str(), sent[2].url.as_str()),
            ("GET", "http://app/private/")
        );
        assert_eq!(sent[2].body, None);
        assert_eq!(header(&sent[2], "content-type"), None);
        assert_eq!(
            header(&sent[2], "cookie"),
            Some("csrftoken=Rotat3dTok; sessionid=Sess10nABC")
        );
        assert_eq!(
            header(&sent[3], "cookie"),
            Some("csrftoken=Rotat3dTok; sessionid=Sess10nABC")
        );
        assert_eq!(
            f.summary,
            "GET http://app/accounts/login/ → 200 in 1 ms; \
             POST http://app/accounts/login/ → 200 after 1 redirect in 2 ms; \
             GET http://app/private/ → 200 in 1 ms"
        );
        assert_eq!(
            f.evidence("login.redirects"),
            Some("302 → http://app/private/")
        );
        assert_eq!(f.evidence("login.cookies_sent"), Some("csrftoken"));
        assert_eq!(
            f.evidence("home.cookies_sent"),
            Some("csrftoken, sessionid")
        );
        // Captured values and cookies never show, whole or encoded.
        assert_eq!(
            f.evidence("login.body"),
            Some("Welcome pitwall, your token is ***")
        );
        assert_eq!(f.evidence("home.body"), Some("Welcome back pitwall (***)"));
        let all = everything(&f);
        for secret in ["FormTok3nXYZ", "C00kieTok3n", "Sess10nABC", "Rotat3dTok"] {
            assert!(!all.contains(secret), "{secret} shows in {all}");
        }
    }

    #[test]
    fn without_the_redirect_the_login_answers_302_and_sets_the_session() {
        let config = DJANGO.replace(
            r#""follow_redirects":true,"body_contains":"Welcome","#,
            r#""expect_status":[302,303],"#,
        );
        let mut answers = django_answers();
        let _followed = answers.remove(2);
        let (f, sent) = run(&config, answers);
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        assert_eq!(sent.len(), 3);
        assert_eq!(
            header(&sent[2], "cookie"),
            Some("csrftoken=Rotat3dTok; sessionid=Sess10nABC")
        );
    }

    #[test]
    fn a_capture_that_finds_nothing_fails_its_step_by_name() {
        let mut answers = django_answers();
        answers[0] = with(200, "<form>no token here</form>", &[]);
        let (f, sent) = run(DJANGO, answers);
        assert_eq!(sent.len(), 1);
        assert_eq!(f.outcome, Outcome::Fail);
        assert_eq!(
            f.summary,
            "GET http://app/accounts/login/: capture `csrf` of step `form` found nothing: no regex \
             `name=\"csrfmiddlewaretoken\" value=\"([^\"]+)\"` in the body of the response"
        );
        let (f, _) = run(
            r#"{"url":"http://h/","capture":{"loc":{"header":"location"}}}"#,
            vec![ok(200, "", 1)],
        );
        assert_eq!(
            f.summary,
            "GET http://h/: capture `loc` found nothing: no header `location` of the response"
        );
    }

    #[test]
    fn captured_values_fill_urls_headers_and_bodies() {
        let c = r#"{"steps":[
            {"name":"a","url":"http://h/a","capture":{"loc":{"header":"location"},"id":"data.id"},"expect_status":201},
            {"name":"b","method":"PUT","url":"http://h${loc}?id=${id}","headers":{"X-CSRFToken":"${id}"},"body":"{\"id\":\"${id}\",\"r\":\"${release_id}\"}"}
        ]}"#;
        let (f, sent) = run(
            c,
            vec![
                with(
                    201,
                    r#"{"data":{"id":"Item9876"}}"#,
                    &[("location", "/items/7")],
                ),
                ok(200, "", 1),
            ],
        );
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        assert_eq!(sent[1].url, "http://h/items/7?id=Item9876");
        assert_eq!(header(&sent[1], "x-csrftoken"), Some("Item9876"));
        assert_eq!(
            sent[1].body.as_deref(),
            Some(br#"{"id":"Item9876","r":"r42"}"#.as_slice())
        );
        // Captured values in the URL are blanked in the summary, as everywhere.
        assert!(
            f.summary.contains("PUT http://h***?id=*** → 200"),
            "{}",
            f.summary
        );
    }

    #[test]
    fn redirects_follow_rfc_methods_and_stop_at_the_limit() {
        // 307 repeats the POST with its body; 303 turns it into a GET.
        let c = r#"{"method":"POST","url":"http://h/a","body":"x=1","follow_redirects":true}"#;
        let (f, sent) = run(
            c,
            vec![
                with(307, "", &[("location", "/b")]),
                with(303, "", &[("location", "https://other/c")]),
                ok(200, "", 1),
            ],
        );
        assert_eq!(f.outcome, Outcome::Pass, "{f:?}");
        let seen: Vec<_> = sent
            .iter()
            .map(|r| (r.method.as_str(), r.url.as_str(), r.body.is_some()))
            .collect();
        assert_eq!(
            seen,
            [
                ("POST", "http://h/a", true),
                ("POST", "http://h/b", true),
                ("GET", "https://other/c", false)
            ]
        );
        // Without follow_redirects the 3xx is the answer.
        let (f, sent) = run(
            r#"{"url":"http://h/a","expect_status":302}"#,
            vec![with(302, "", &[("location", "/b")])],
        );
        assert_eq!((f.outcome, sent.len()), (Outcome::Pass, 1));
        // A loop ends at the limit.
        let looping: Vec<_> = (0..=MAX_REDIRECTS)
            .map(|_| with(302, "", &[("location", "/a")]))
            .collect();
        let (f, sent) = run(r#"{"url":"http://h/a","follow_redirects":true}"#, looping);
        assert_eq!(sent.len(), MAX_REDIRECTS + 1);
        assert_eq!(
            f.summary,
            "GET http://h/a: more than 10 redirects (last to /a)"
        );
    }

    #[test]
    fn credentials_the_step_wrote_stay_with_their_origin() {
        let c = r#"{"url":"http://h/a","headers":{"Authorization":"Bearer abcdefgh","Accept":"text/html"},"follow_redirects":true}"#;
        let (_, sent) = run(
            c,
            vec![
                with(302, "", &[("location", "/b"), ("set-cookie", "k=v")]),
                with(302, "", &[("location", "http://elsewhere/c")]),
                ok(200, "", 1),
            ],
        );
        assert_eq!(header(&sent[1], "authorization"), Some("Bearer abcdefgh"));
        assert_eq!(header(&sent[1], "cookie"), Some("k=v"));
        assert_eq!(header(&sent[2], "authorization"), None);
        assert_eq!(header(&sent[2], "cookie"), None);
        assert_eq!(header(&sent[2], "accept"), Some("text/html"));
    }

    #[test]
    fn a_logout_that_expires_the_session_stops_sending_it() {
        let c = r#"{"steps":[
            {"name":"in","url":"http://h/in"},
            {"name":"out","url":"http://h/out"},
            {"name":"after","url":"http://h/x"}
        ]}"#;
        let (f, sent) = run(
            c,
            vec![
                with(
                    200,
                    "",
                    &[("set-cookie", "sessionid=abcd1234; Max-Age=1209600")],
                ),
                with(
                    200,
                    "",
                    &[(
                        "set-cookie",
                        "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
                    )],
                ),
                ok(200, "", 1),
            ],
        );
        assert_eq!(f.outcome, Outcome::Pass);
        assert_eq!(header(&sent[1], "cookie"), Some("sessionid=abcd1234"));
        assert_eq!(header(&sent[2], "cookie"), None);
    }

    #[test]
    fn the_step_own_cookie_header_goes_first() {
        let c = r#"{"steps":[
            {"name":"a","url":"http://h/a"},
            {"name":"b","url":"http://h/b","headers":{"cookie":"lang=en"}}
        ]}"#;
        let (_, sent) = run(
            c,
            vec![with(200, "", &[("set-cookie", "s=1")]), ok(200, "", 1)],
        );
        assert_eq!(header(&sent[1], "cookie"), Some("lang=en; s=1"));
    }

    #[test]
    fn form_keeps_a_content_type_given_and_refuses_a_body_beside_it() {
        let (_, sent) = run(
            r#"{"method":"POST","url":"http://h/","form":{"a":"1"},"headers":{"content-type":"application/x-www-form-urlencoded; charset=utf-8"}}"#,
            vec![ok(200, "", 1)],
        );
        assert_eq!(
            sent[0].headers,
            [(
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string()
            )]
        );
        assert_eq!(
            Config::parse(r#"{"url":"http://h/","form":{"a":"1"},"body":"a=1"}"#).unwrap_err(),
            "http-probe: give `body` or `form`, not both: `form` is the body, url-encoded"
        );
    }

    #[test]
    fn config_errors_name_the_step_and_the_capture() {
        let err = |c: &str| Config::parse(c).unwrap_err();
        assert_eq!(
            err(
                r#"{"steps":[{"name":"form","url":"http://h/","capture":{"csrf":{"regex":"value=\"[^\"]+\""}}}]}"#
            ),
            "http-probe: capture `csrf`: regex `value=\"[^\"]+\"` has no group: put the value \
             to keep in ( ), e.g. 'value=\"([^\"]+)\"'"
        );
        assert!(
            err(r#"{"steps":[{"url":"http://h/"},{"name":"form","url":"http://h/","capture":{"csrf":{"regex":"("}}}]}"#)
                .starts_with("http-probe: step `form`: capture `csrf`: regex `(` does not compile: "),
        );
        assert_eq!(
            err(
                r#"{"steps":[{"name":"a","url":"http://h/","capture":{"tok":"t"}},{"name":"b","url":"http://h/","form":{"t":"${csfr}"}}]}"#
            ),
            "http-probe: step `b`: `${csfr}` is neither built in (release_id, project) nor \
             captured by an earlier step (captured so far: tok)"
        );
        // A step cannot use what it captures itself.
        assert!(
            err(r#"{"url":"http://h/${t}","capture":{"t":"t"}}"#).contains("captured so far: none")
        );
        assert_eq!(
            err(r#"{"url":"http://h/","form":{"password":"${CHECK_PASSWORD}"}}"#),
            "http-probe: `${CHECK_PASSWORD}` was not filled in: pitwall fills in upper-case \
             ${NAME}s from the env file and the environment when it reads pitwall.toml; set \
             CHECK_PASSWORD there (`check run --config` takes the text as written)"
        );
        assert!(
            err(r#"{"url":"http://h/","capture":{"TOKEN":"t"}}"#)
                .starts_with("http-probe: capture name `TOKEN`")
        );
        assert!(err(r#"{"url":"http://h/","capture":{"release_id":"t"}}"#).contains("is taken"));
    }
}
