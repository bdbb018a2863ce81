//! The check a state-changing request (any method but GET and HEAD) of a cookie session
//! passes: the session's CSRF token, sent as the `X-CSRF-Token` header or the `csrf` form
//! field, and, when the browser says where the request comes from, the same origin: `Origin`
//! must be this server's own (`http(s)://` and the `Host` the request names), `Sec-Fetch-Site`
//! must be `same-origin`. A request with a bearer token sends no cookie and needs none of this.

use super::secret::constant_eq;

/// What a request says, as the check needs it.
#[derive(Debug, Clone, Default)]
pub struct Sent<'a> {
    pub token: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub fetch_site: Option<&'a str>,
    pub host: Option<&'a str>,
    pub tls: bool,
}

/// Why a request fails the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or not the session's (`csrf_token`).
    Token,
    /// From another site (`cross_origin`).
    Origin,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Token => "csrf_token",
            Refusal::Origin => "cross_origin",
        }
    }
}

/// The same-origin part only (also for `POST /login`, which has no session yet).
pub fn same_origin(sent: &Sent) -> Result<(), Refusal> {
    if let Some(site) = sent.fetch_site {
        if site != "same-origin" {
            return Err(Refusal::Origin);
        }
    }
    if let Some(origin) = sent.origin {
        let scheme = if sent.tls { "https://" } else { "http://" };
        let own = sent.host.map(|h| format!("{scheme}{h}"));
        if own.as_deref() != Some(origin) {
            return Err(Refusal::Origin);
        }
    }
    Ok(())
}

/// The whole check against the session's token `expected`.
pub fn check(expected: &str, sent: &Sent) -> Result<(), Refusal> {
    same_origin(sent)?;
    match sent.token {
        Some(t) if constant_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(Refusal::Token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent<'a>(
        token: Option<&'a str>,
        origin: Option<&'a str>,
        site: Option<&'a str>,
    ) -> Sent<'a> {
        Sent {
            token,
            origin,
            fetch_site: site,
            host: Some("rec.example:8080"),
            tls: false,
        }
    }

    #[test]
    fn the_token_and_the_origin_are_both_needed() {
        let t = "a".repeat(64);
        assert_eq!(check(&t, &sent(Some(&t), None, None)), Ok(()));
        let own = Some("http://rec.example:8080");
        assert_eq!(check(&t, &sent(Some(&t), own, Some("same-origin"))), Ok(()));
        assert_eq!(check(&t, &sent(None, own, None)), Err(Refusal::Token));
        assert_eq!(check(&t, &sent(Some("b"), own, None)), Err(Refusal::Token));
        let evil = Some("http://evil.example");
        assert_eq!(check(&t, &sent(Some(&t), evil, None)), Err(Refusal::Origin));
        assert_eq!(
            check(&t, &sent(Some(&t), None, Some("cross-site"))),
            Err(Refusal::Origin)
        );
        assert_eq!(
            check(&t, &sent(Some(&t), Some("https://rec.example:8080"), None)),
            Err(Refusal::Origin),
            "the scheme counts"
        );
        let mut tls = sent(Some(&t), Some("https://rec.example:8080"), None);
        tls.tls = true;
        assert_eq!(check(&t, &tls), Ok(()));
        let mut no_host = sent(Some(&t), own, None);
        no_host.host = None;
        assert_eq!(check(&t, &no_host), Err(Refusal::Origin));
    }
}
