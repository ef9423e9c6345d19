// @generated automatically by Diesel CLI.

diesel::table! {
    admin_tasks (id) {
        id -> Int8,
        loan_id -> Int8,
        machine_id -> Int8,
        phase -> Text,
        step_index -> Int4,
        step_name -> Text,
        instructions -> Text,
        state -> Text,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
        closed_by -> Nullable<Int8>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        scopes -> Array<Text>,
        token_hash -> Bytea,
        hint -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        revoked_by -> Nullable<Int8>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Int8>,
        actor -> Text,
        kind -> Text,
        target_type -> Text,
        target_id -> Text,
        target -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
    }
}

diesel::table! {
    emails (id) {
        id -> Int8,
        kind -> Text,
        loan_id -> Nullable<Int8>,
        recipients -> Array<Nullable<Text>>,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        dedupe_key -> Text,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        transport -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        loan_id -> Nullable<Int8>,
        run_at -> Timestamptz,
        attempts -> Int4,
        max_attempts -> Int4,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> Timestamptz,
        failed_at -> Nullable<Timestamptz>,
        lane -> Text,
    }
}

diesel::table! {
    link_tokens (id) {
        id -> Int8,
        token_hash -> Bytea,
        loan_id -> Int8,
        action -> Text,
        deadline -> Timestamptz,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        user_id -> Nullable<Int8>,
    }
}

diesel::table! {
    loan_events (id) {
        id -> Int8,
        loan_id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Int8>,
        kind -> Text,
        message -> Text,
        output -> Nullable<Text>,
        details -> Jsonb,
    }
}

diesel::table! {
    loan_facts (loan_id) {
        loan_id -> Int8,
        pool_id -> Int8,
        machine_id -> Nullable<Int8>,
        assigned_at -> Nullable<Timestamptz>,
        back_at -> Nullable<Timestamptz>,
        broken_at -> Nullable<Timestamptz>,
        ended_how -> Nullable<Text>,
    }
}


diesel::table! {
    loans (id) {
        id -> Int8,
        user_id -> Int8,
        pool_id -> Int8,
        machine_id -> Nullable<Int8>,
        state -> Text,
        reason -> Text,
        bug_ref -> Nullable<Text>,
        duration_hours -> Int4,
        ssh_public_key -> Text,
        expires_at -> Nullable<Timestamptz>,
        approved_by -> Nullable<Int8>,
        requested_at -> Timestamptz,
        approved_at -> Nullable<Timestamptz>,
        ready_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        extensions_used -> Int4,
        expired_at -> Nullable<Timestamptz>,
        decision_reason -> Nullable<Text>,
    }
}

diesel::table! {
    machine_actions (id) {
        id -> Int8,
        machine_id -> Int8,
        action -> Text,
        driver -> Text,
        loan_id -> Nullable<Int8>,
        requested_by -> Nullable<Int8>,
        requested_as -> Text,
        reason -> Nullable<Text>,
        state -> Text,
        output -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    machines (id) {
        id -> Int8,
        fqdn -> Text,
        pool_id -> Int8,
        state -> Text,
        state_reason -> Nullable<Text>,
        driver_settings -> Jsonb,
        notes -> Text,
        current_image -> Nullable<Text>,
        last_health_check_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        hold_state -> Nullable<Text>,
        hold_reason -> Nullable<Text>,
        health_note -> Nullable<Text>,
        health_ok_streak -> Int4,
        health_failed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    pools (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        description -> Text,
        platform -> Text,
        image_name -> Text,
        image_version -> Text,
        login_user -> Text,
        provision_steps -> Jsonb,
        reclaim_steps -> Jsonb,
        approval_mode -> Nullable<Text>,
        default_duration_hours -> Nullable<Int4>,
        max_duration_hours -> Nullable<Int4>,
        bug_required -> Nullable<Bool>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        extension_hours -> Nullable<Int4>,
        max_extensions -> Nullable<Int4>,
        max_total_hours -> Nullable<Int4>,
        reminder_offsets_minutes -> Nullable<Array<Nullable<Int4>>>,
        grace_period_minutes -> Nullable<Int4>,
        max_loans_per_user -> Nullable<Int4>,
        allowed_groups -> Nullable<Array<Nullable<Text>>>,
        retired_at -> Nullable<Timestamptz>,
        driver_settings -> Jsonb,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Bytea,
        user_id -> Int8,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        id -> Int8,
        last_seen_at -> Timestamptz,
        user_agent -> Text,
        address -> Text,
        via -> Text,
        id_token -> Nullable<Text>,
    }
}

diesel::table! {
    sign_in_attempts (state_hash) {
        state_hash -> Bytea,
        binding_hash -> Bytea,
        nonce -> Text,
        pkce_verifier -> Text,
        next_path -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    site_policy (id) {
        id -> Bool,
        approval_mode -> Text,
        default_duration_hours -> Int4,
        max_duration_hours -> Int4,
        extension_hours -> Int4,
        max_extensions -> Int4,
        max_total_hours -> Int4,
        bug_required -> Bool,
        grace_period_minutes -> Int4,
        max_loans_per_user -> Nullable<Int4>,
        max_loans_per_user_per_pool -> Nullable<Int4>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    step_runs (day, pool_id, phase, name, shard) {
        day -> Date,
        pool_id -> Int8,
        phase -> Text,
        name -> Text,
        shard -> Int2,
        succeeded -> Int4,
        failed -> Int4,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        name -> Text,
        role -> Text,
        groups -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
        sso_issuer -> Nullable<Text>,
        sso_subject -> Nullable<Text>,
    }
}

diesel::joinable!(admin_tasks -> loans (loan_id));
diesel::joinable!(admin_tasks -> machines (machine_id));
diesel::joinable!(admin_tasks -> users (closed_by));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(emails -> loans (loan_id));
diesel::joinable!(link_tokens -> loans (loan_id));
diesel::joinable!(link_tokens -> users (user_id));
diesel::joinable!(loan_events -> loans (loan_id));
diesel::joinable!(loan_facts -> loans (loan_id));
diesel::joinable!(loan_events -> users (actor_id));
diesel::joinable!(loans -> machines (machine_id));
diesel::joinable!(machine_actions -> loans (loan_id));
diesel::joinable!(machine_actions -> machines (machine_id));
diesel::joinable!(machine_actions -> users (requested_by));
diesel::joinable!(loans -> pools (pool_id));
diesel::joinable!(machines -> pools (pool_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_tasks,
    api_tokens,
    audit_log,
    emails,
    jobs,
    link_tokens,
    loan_events,
    loan_facts,
    loans,
    machine_actions,
    machines,
    pools,
    sessions,
    sign_in_attempts,
    site_policy,
    step_runs,
    users,
);
