//! The directory's input rules, checked before anything is read or written: texts as the rest
//! of the service takes them (DESIGN §4), keys in the form they are stored and found by, and no
//! key twice in one directory (which of two contradicting records should win is not ours to
//! guess).

use std::collections::HashMap;

use super::{
    ActivitySpec, Directory, DirectoryError, Entry, Kind, Location, OrganizationRef,
    OrganizationSpec, PurposeSpec, UserSpec,
};
use crate::{ServiceError, validate};

/// The statuses of a data-processing activity; the first is the default.
pub const ACTIVITY_STATUSES: &[&str] = &["DRAFT", "ACTIVE"];

const MAX_NAME: usize = 255;
const MAX_DESCRIPTION: usize = 2000;
const MAX_SLUG: usize = 63;
/// RFC 5321: a path holds at most 256 octets, two of them the angle brackets.
const MAX_EMAIL: usize = 254;
const MAX_EMAIL_LOCAL: usize = 64;

/// `directory` with every text checked and put in its stored form; the first offence, located.
pub(super) fn normalize(directory: Directory) -> Result<Directory, DirectoryError> {
    let mut slugs: HashMap<String, usize> = HashMap::new();
    let mut emails: HashMap<String, Location> = HashMap::new();
    let mut entries = Vec::with_capacity(directory.entries.len());
    for (i, entry) in directory.entries.into_iter().enumerate() {
        let organization = match entry.organization {
            OrganizationRef::Upsert(spec) => {
                let spec = organization(spec).map_err(|e| e.within(i, None))?;
                if let Some(first) = slugs.get(&spec.slug) {
                    let message = format!(
                        "the slug `{}` is also at organizations[{first}]: list each organization once",
                        spec.slug
                    );
                    return Err(DirectoryError::bad_input("slug", message).within(i, None));
                }
                slugs.insert(spec.slug.clone(), i);
                OrganizationRef::Upsert(spec)
            }
            OrganizationRef::Existing(key) => {
                validate::storable("org", &key)
                    .map_err(|e| DirectoryError::from(e).within(i, None))?;
                let key = key.trim();
                if key.is_empty() {
                    let message = "name the organization by its slug or its id";
                    return Err(DirectoryError::bad_input("org", message).within(i, None));
                }
                OrganizationRef::Existing(key.to_owned())
            }
        };
        let mut normalized = Entry::new(organization);
        for (j, spec) in entry.users.into_iter().enumerate() {
            let here = |e: DirectoryError| e.within(i, Some((Kind::User, j)));
            let spec = user(spec).map_err(|e| here(e.into()))?;
            let at = Location {
                entry: Some(i),
                record: Some((Kind::User, j)),
                field: None,
            };
            if let Some(first) = emails.insert(spec.email.clone(), at) {
                let message = format!(
                    "`{}` is also at {}: an e-mail address belongs to one user",
                    spec.email,
                    first.path()
                );
                return Err(here(DirectoryError::bad_input("email", message)));
            }
            normalized.users.push(spec);
        }
        let mut names = NamesOf::new(i, Kind::Purpose);
        for (j, spec) in entry.purposes.into_iter().enumerate() {
            let spec = purpose(spec)
                .map_err(|e| DirectoryError::from(e).within(i, Some((Kind::Purpose, j))))?;
            names.insert(&spec.name, j)?;
            normalized.purposes.push(spec);
        }
        let mut names = NamesOf::new(i, Kind::Activity);
        for (j, spec) in entry.activities.into_iter().enumerate() {
            let spec = activity(spec)
                .map_err(|e| DirectoryError::from(e).within(i, Some((Kind::Activity, j))))?;
            names.insert(&spec.name, j)?;
            normalized.activities.push(spec);
        }
        entries.push(normalized);
    }
    Ok(Directory { entries })
}

/// The names of one kind of record of one entry, seen so far.
struct NamesOf {
    entry: usize,
    kind: Kind,
    seen: HashMap<String, usize>,
}

impl NamesOf {
    fn new(entry: usize, kind: Kind) -> Self {
        Self {
            entry,
            kind,
            seen: HashMap::new(),
        }
    }

    fn insert(&mut self, name: &str, index: usize) -> Result<(), DirectoryError> {
        if let Some(first) = self.seen.get(name) {
            let first = Location {
                entry: Some(self.entry),
                record: Some((self.kind, *first)),
                field: None,
            };
            let message = format!(
                "the {} `{name}` is also at {}: a name names one {} of an organization",
                self.kind.as_str(),
                first.path(),
                self.kind.as_str()
            );
            return Err(DirectoryError::bad_input("name", message)
                .within(self.entry, Some((self.kind, index))));
        }
        self.seen.insert(name.to_owned(), index);
        Ok(())
    }
}

fn organization(spec: OrganizationSpec) -> Result<OrganizationSpec, DirectoryError> {
    Ok(OrganizationSpec {
        slug: slug(&spec.slug)?,
        name: name(spec.name)?,
        headquarters: match spec.headquarters {
            Some(Some(country)) => {
                validate::storable("headquarters", &country)?;
                let country = country.trim();
                Some((!country.is_empty()).then(|| country.to_owned()))
            }
            other => other,
        },
    })
}

fn user(spec: UserSpec) -> Result<UserSpec, ServiceError> {
    Ok(UserSpec {
        email: email(&spec.email)?,
        name: name(spec.name)?,
    })
}

fn purpose(spec: PurposeSpec) -> Result<PurposeSpec, ServiceError> {
    Ok(PurposeSpec {
        name: validate::required_text("name", &spec.name, 1, MAX_NAME)?,
        description: description(spec.description)?,
        active: spec.active,
    })
}

fn activity(spec: ActivitySpec) -> Result<ActivitySpec, ServiceError> {
    Ok(ActivitySpec {
        name: validate::required_text("name", &spec.name, 1, MAX_NAME)?,
        description: description(spec.description)?,
        status: spec.status.as_deref().map(status).transpose()?,
    })
}

fn name(value: Option<String>) -> Result<Option<String>, ServiceError> {
    value
        .map(|v| validate::required_text("name", &v, 1, MAX_NAME))
        .transpose()
}

/// As given, or `Some(None)` (clear) for an empty one.
fn description(value: Option<Option<String>>) -> Result<Option<Option<String>>, ServiceError> {
    match value {
        Some(Some(text)) => {
            validate::optional_text("description", Some(&text), MAX_DESCRIPTION)?;
            Ok(Some((!text.trim().is_empty()).then_some(text)))
        }
        other => Ok(other),
    }
}

/// `[a-z0-9-]{1,63}`, after trimming.
fn slug(value: &str) -> Result<String, ServiceError> {
    let slug = value.trim();
    let ok = (1..=MAX_SLUG).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(ServiceError::bad_input(
            "slug",
            format!(
                "slug must be 1 to {MAX_SLUG} characters of a-z, 0-9 and -, got {}",
                shown(slug)
            ),
        ));
    }
    Ok(slug.to_owned())
}

/// `local@domain.tld`, trimmed and in lower case: an address names one person however it is
/// written, and users.email is unique only as written.
fn email(value: &str) -> Result<String, ServiceError> {
    let email = value.trim();
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let ok = email.chars().count() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.chars().count() <= MAX_EMAIL_LOCAL
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(label)
            }
            None => false,
        };
    if !ok {
        return Err(ServiceError::bad_input(
            "email",
            format!(
                "email must be an address like ann@example.org, got {}",
                shown(email)
            ),
        ));
    }
    Ok(email.to_lowercase())
}

/// One of [`ACTIVITY_STATUSES`], in any case.
fn status(value: &str) -> Result<String, ServiceError> {
    let status = value.trim().to_ascii_uppercase();
    if !ACTIVITY_STATUSES.contains(&status.as_str()) {
        return Err(ServiceError::bad_input(
            "status",
            format!(
                "status must be one of {}, got {}",
                ACTIVITY_STATUSES.join(", "),
                shown(value)
            ),
        ));
    }
    Ok(status)
}

/// A value quoted for a message, cut to a readable length.
fn shown(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_letters_digits_and_hyphens() {
        assert_eq!(slug(" acme-2 ").unwrap(), "acme-2");
        for bad in ["", "Acme", "acme gmbh", "acme_x", "ä", &"a".repeat(64)] {
            assert!(slug(bad).is_err(), "{bad:?}");
        }
        assert!(slug(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(email(" Ann@Acme.example ").unwrap(), "ann@acme.example");
        assert!(email("a.b+tag@mail.acme-gmbh.de").is_ok());
        for bad in [
            "",
            "ann",
            "@acme.example",
            "ann@",
            "ann@acme",
            "ann@@acme.example",
            "ann@acme..example",
            "ann @acme.example",
            "ann@-acme.example",
            "ann\u{0}@acme.example",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statuses_are_known_and_uppercased() {
        assert_eq!(status("active").unwrap(), "ACTIVE");
        assert_eq!(status("DRAFT").unwrap(), "DRAFT");
        let err = status("archived").unwrap_err().to_string();
        assert!(err.contains("DRAFT, ACTIVE"), "{err}");
    }

    #[test]
    fn an_empty_description_clears_it() {
        assert_eq!(description(Some(Some("  ".into()))).unwrap(), Some(None));
        assert_eq!(description(None).unwrap(), None);
        assert!(description(Some(Some("x".repeat(2001)))).is_err());
    }

    fn entry(slug: &str) -> Entry {
        Entry::new(OrganizationRef::Upsert(OrganizationSpec {
            slug: slug.into(),
            name: Some("Org".into()),
            headquarters: None,
        }))
    }

    #[test]
    fn a_key_twice_in_one_directory_is_refused_where_it_repeats() {
        let mut a = entry("acme");
        a.users.push(UserSpec {
            email: "ann@acme.example".into(),
            name: Some("Ann".into()),
        });
        let mut b = entry("beta");
        b.users.push(UserSpec {
            email: "ANN@acme.example".into(),
            name: Some("Ann".into()),
        });
        let err = normalize(Directory {
            entries: vec![a.clone(), b],
        })
        .unwrap_err();
        assert_eq!(err.at.path(), "organizations[1].users[0].email");
        assert!(
            err.to_string().contains("organizations[0].users[0]"),
            "{err}"
        );

        let err = normalize(Directory {
            entries: vec![a.clone(), entry("acme")],
        })
        .unwrap_err();
        assert_eq!(err.at.path(), "organizations[1].slug");

        let mut c = entry("gamma");
        for _ in 0..2 {
            c.activities.push(ActivitySpec {
                name: " Payroll ".into(),
                ..ActivitySpec::default()
            });
        }
        let err = normalize(Directory { entries: vec![c] }).unwrap_err();
        assert_eq!(err.at.path(), "organizations[0].activities[1].name");
    }

    #[test]
    fn a_bad_field_is_located() {
        let mut a = entry("acme");
        a.purposes.push(PurposeSpec {
            name: "   ".into(),
            ..PurposeSpec::default()
        });
        let err = normalize(Directory { entries: vec![a] }).unwrap_err();
        assert_eq!(err.at.path(), "organizations[0].purposes[0].name");
    }
}
