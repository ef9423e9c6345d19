//! Typed ids: a `LoanId` is not a `MachineId`, so a function taking both cannot be called with
//! them swapped. Each is an `i64` on the wire (serde) and in the database (`BIGINT`).

use serde::{Deserialize, Serialize};

/// Declares an id newtype stored in a `BIGINT` column.
macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "ssr", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "ssr", diesel(sql_type = diesel::sql_types::BigInt))]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.trim().parse().map(Self)
            }
        }

        #[cfg(feature = "ssr")]
        impl diesel::serialize::ToSql<diesel::sql_types::BigInt, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <i64 as diesel::serialize::ToSql<diesel::sql_types::BigInt, diesel::pg::Pg>>::to_sql(
                    &self.0, out,
                )
            }
        }

        #[cfg(feature = "ssr")]
        impl diesel::deserialize::FromSql<diesel::sql_types::BigInt, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <i64 as diesel::deserialize::FromSql<diesel::sql_types::BigInt, diesel::pg::Pg>>::from_sql(value)
                    .map(Self)
            }
        }
    )+};
}

id_type! {
    /// A loan (`loans.id`).
    LoanId;
    /// A machine (`machines.id`).
    MachineId;
    /// A pool, or machine type (`pools.id`).
    PoolId;
    /// A person (`users.id`).
    UserId;
    /// An admin task of a manual step (`admin_tasks.id`).
    TaskId;
    /// A message (`emails.id`).
    MailId;
    /// A job of the queue (`jobs.id`).
    JobId;
    /// A signed-in session (`sessions.id`; the secret token is something else).
    SessionId;
    /// An admin's action on a machine (`machine_actions.id`).
    ActionId;
    /// A personal API token (`api_tokens.id`; its secret is something else).
    ApiTokenId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_on_the_wire_and_in_addresses() {
        assert_eq!(serde_json::to_string(&LoanId(7)).unwrap(), "7");
        assert_eq!(
            serde_json::from_str::<MachineId>("12").unwrap(),
            MachineId(12)
        );
        assert_eq!(" 42 ".parse::<LoanId>().unwrap(), LoanId(42));
        assert!("4x".parse::<LoanId>().is_err());
        assert_eq!(LoanId(3).to_string(), "3");
    }
}
