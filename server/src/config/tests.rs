//! Reading and checking the configuration.

use super::*;

#[test]
fn without_a_database_url_the_defaults_are_the_zero_config_mode() {
    let config = Config::default();
    assert!(config.dev_mode());
    assert_eq!(
        config.public_url().unwrap().origin(),
        "http://127.0.0.1:3000"
    );
    assert!(config.validate().is_ok());
}

#[test]
fn a_database_url_switches_development_mode_off() {
    let config = Config {
        database_url: Some("postgres://x@localhost/y".into()),
        ..Config::default()
    };
    assert!(!config.dev_mode());
}

#[test]
fn development_mode_refuses_a_real_database_or_a_public_address() {
    let with_database = Config {
        database_url: Some("postgres://x@localhost/y".into()),
        dev_mode: Some(true),
        ..Config::default()
    };
    let err = with_database.validate().unwrap_err().to_string();
    assert!(
        err.contains("dev_mode cannot be combined with database_url"),
        "{err}"
    );
    let public = Config {
        public_url: Some("https://loaner.example.com".into()),
        ..Config::default()
    };
    let err = public.validate().unwrap_err().to_string();
    assert!(err.contains("loopback public_url"), "{err}");
    let production = Config {
        database_url: Some("postgres://x@localhost/y".into()),
        public_url: Some("https://loaner.example.com".into()),
        ..Config::default()
    };
    assert!(production.validate().is_ok());
}

#[test]
fn outside_development_mode_the_public_address_must_be_given() {
    let unsaid = Config {
        database_url: Some("postgres://x@localhost/y".into()),
        ..Config::default()
    };
    let err = unsaid.require_public_url().unwrap_err().to_string();
    assert!(err.contains("public_url must be set"), "{err}");
    let said = Config {
        public_url: Some("https://loaner.example.com".into()),
        ..unsaid
    };
    assert!(said.require_public_url().is_ok());
    assert!(Config::default().require_public_url().is_ok());
}

#[test]
fn mail_goes_to_the_mailbox_in_development_and_over_smtp_otherwise() {
    assert_eq!(Config::default().mail_transport(), MailTransport::Mailbox);
    let production = Config {
        database_url: Some("postgres://x@localhost/y".into()),
        ..Config::default()
    };
    assert_eq!(production.mail_transport(), MailTransport::Smtp);
    assert_eq!(production.mail.port(), 587);
}

#[test]
fn bad_values_are_refused_with_their_key() {
    let mut config = Config::default();
    config.reminders.offsets_minutes = vec![60, -5];
    assert!(config
        .validate()
        .unwrap_err()
        .to_string()
        .contains("reminders.offsets_minutes"));
    let mut config = Config::default();
    config.mail.from = "not an address".into();
    assert!(config
        .validate()
        .unwrap_err()
        .to_string()
        .contains("mail.from"));
}

#[test]
fn a_toml_file_is_read_and_unknown_keys_are_refused() {
    let dir = std::env::temp_dir().join(format!("loaner-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "bind = \"127.0.0.1:4000\"\n[jobs]\nlease_secs = 5\n").unwrap();
    let config = Config::load(Some(&good)).unwrap();
    assert_eq!(config.bind.port(), 4000);
    assert_eq!(config.jobs.lease_secs, 5);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "bnid = \"127.0.0.1:4000\"\n").unwrap();
    assert!(Config::load(Some(&bad)).is_err());
}
