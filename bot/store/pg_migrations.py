"""PostgreSQL schema migrations: one per SQLite migration (bot/store/migrations.py), same number.

Applied in order at start by bot/store/postgres.py, under an advisory lock, each in its own
transaction, the version kept in `schema_version`. Append new migrations; never edit one that has
shipped. A new SQLite migration needs its PostgreSQL twin here: tests/unit/test_store_backends.py
compares the two schemas column by column.

Types: Telegram ids and money are BIGINT, ids BIGSERIAL, timestamps DOUBLE PRECISION (Unix
seconds, as in SQLite), flags stay INTEGER 0/1 so one text per query serves both databases.
"""

PG_MIGRATIONS: list[str] = [
    # 1: users
    """
    CREATE TABLE users (
        id BIGINT PRIMARY KEY,                -- Telegram user id
        language TEXT NOT NULL DEFAULT 'en',
        first_name TEXT NOT NULL DEFAULT '',
        username TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        last_seen_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: credits: balance on the user row, append-only ledger, Stars payments
    """
    ALTER TABLE users ADD COLUMN balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0);
    ALTER TABLE users ADD COLUMN language_chosen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN default_ratio TEXT;
    CREATE TABLE ledger (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id),
        amount BIGINT NOT NULL,
        reason TEXT NOT NULL,
        op_id TEXT NOT NULL UNIQUE,
        job_id BIGINT,
        charge_id TEXT,
        actor TEXT NOT NULL DEFAULT 'system',
        note TEXT,
        balance_after BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX ledger_user ON ledger(user_id, id);
    CREATE INDEX ledger_job ON ledger(job_id);
    CREATE TABLE payments (
        charge_id TEXT PRIMARY KEY,           -- telegram_payment_charge_id
        user_id BIGINT NOT NULL REFERENCES users(id),
        payload TEXT NOT NULL,
        stars BIGINT NOT NULL,
        credits BIGINT NOT NULL,
        status TEXT NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'refunded')),
        created_at DOUBLE PRECISION NOT NULL,
        refunded_at DOUBLE PRECISION
    );
    CREATE INDEX payments_user ON payments(user_id);
    CREATE TABLE reservations (
        key TEXT PRIMARY KEY,                 -- e.g. 'job:42', one reservation per job
        user_id BIGINT NOT NULL REFERENCES users(id),
        amount BIGINT NOT NULL CHECK (amount >= 0),
        status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'settled', 'refunded')),
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 3: generation jobs
    """
    CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id),
        chat_id BIGINT NOT NULL,
        draft_key TEXT NOT NULL UNIQUE,       -- idempotency key of the confirmed draft
        model_key TEXT NOT NULL,
        mode TEXT NOT NULL,
        ratio TEXT,
        options_json TEXT NOT NULL DEFAULT '{}',
        prompt TEXT NOT NULL DEFAULT '',
        inputs_json TEXT NOT NULL DEFAULT '{}',
        family TEXT NOT NULL,
        kie_model TEXT NOT NULL DEFAULT '',
        kie_credits BIGINT NOT NULL,
        cost BIGINT NOT NULL,                 -- user credits reserved
        callback_token TEXT NOT NULL UNIQUE,
        task_id TEXT UNIQUE,
        state TEXT NOT NULL DEFAULT 'created',
        progress INTEGER,
        status_message_id BIGINT,
        fail_code TEXT,
        fail_reason TEXT,
        result_urls_json TEXT,
        file_id TEXT,
        poll_count INTEGER NOT NULL DEFAULT 0,
        next_poll_at DOUBLE PRECISION,
        deadline_at DOUBLE PRECISION NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        create_started_at DOUBLE PRECISION,   -- set just before the create call (crash recovery)
        submitted_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        delivered_at DOUBLE PRECISION,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX jobs_user ON jobs(user_id, id);
    CREATE INDEX jobs_state ON jobs(state);
    """,
    # 4: Stars packs accepted at pre-checkout, and the currency of each payment
    """
    CREATE TABLE pre_checkouts (
        user_id BIGINT NOT NULL,
        payload TEXT NOT NULL,
        currency TEXT NOT NULL,
        stars BIGINT NOT NULL,
        credits BIGINT NOT NULL,
        accepted_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, payload)
    );
    ALTER TABLE payments ADD COLUMN currency TEXT NOT NULL DEFAULT 'XTR';
    """,
    # 5: delivery schedule
    """
    ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN next_delivery_at DOUBLE PRECISION;
    CREATE INDEX jobs_delivery_due ON jobs(next_delivery_at) WHERE state = 'succeeded';
    """,
    # 6: possible orphan KIE tasks: when the admins were told (no old rows on PostgreSQL: nothing to
    # backfill, the statement is kept as the twin of SQLite's)
    """
    ALTER TABLE jobs ADD COLUMN orphan_alerted_at DOUBLE PRECISION;
    UPDATE jobs SET orphan_alerted_at = updated_at
        WHERE state = 'failed' AND task_id IS NULL AND fail_reason LIKE 'submission_unknown%';
    """,
    # 7: open wizards (aiogram FSM state and data)
    """
    CREATE TABLE fsm (
        bot_id BIGINT NOT NULL,
        chat_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        thread_id BIGINT NOT NULL DEFAULT 0,
        business_connection_id TEXT NOT NULL DEFAULT '',
        destiny TEXT NOT NULL,
        state TEXT,
        data TEXT NOT NULL DEFAULT '{}',      -- a JSON object
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)
    );
    CREATE INDEX fsm_updated ON fsm(updated_at);
    """,
    # 8: what KIE says each task cost (a decimal kept exact as text)
    """
    ALTER TABLE jobs ADD COLUMN kie_credits_consumed TEXT;
    """,
    # 9: referrals
    """
    CREATE TABLE referrals (
        invited_id BIGINT PRIMARY KEY REFERENCES users(id),
        inviter_id BIGINT NOT NULL REFERENCES users(id),
        created_at DOUBLE PRECISION NOT NULL,
        rewarded_at DOUBLE PRECISION,
        CHECK (invited_id != inviter_id)
    );
    CREATE INDEX referrals_inviter ON referrals(inviter_id);
    """,
    # 10: several instances: who works on a job (claims with leases), and named leases (leadership)
    """
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    ALTER TABLE jobs ADD COLUMN submit_lease_until DOUBLE PRECISION;
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 11: how long KIE itself took for a finished task (completeTime - createTime)
    """
    ALTER TABLE jobs ADD COLUMN kie_seconds DOUBLE PRECISION;
    """,
]
