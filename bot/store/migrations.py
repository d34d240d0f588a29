"""Versioned schema migrations, applied in order at start (PRAGMA user_version).

Append new migrations; never edit one that has shipped.
"""

MIGRATIONS: list[str] = [
    # 1: users
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,               -- Telegram user id
        language TEXT NOT NULL DEFAULT 'en',
        first_name TEXT NOT NULL DEFAULT '',
        username TEXT,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL
    );
    """,
    # 2: credits: balance on the user row, append-only ledger, Stars payments
    """
    ALTER TABLE users ADD COLUMN balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0);
    ALTER TABLE users ADD COLUMN language_chosen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN default_ratio TEXT;
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id),
        amount INTEGER NOT NULL,
        reason TEXT NOT NULL,
        op_id TEXT NOT NULL UNIQUE,
        job_id INTEGER,
        charge_id TEXT,
        actor TEXT NOT NULL DEFAULT 'system',
        note TEXT,
        balance_after INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX ledger_user ON ledger(user_id, id);
    CREATE INDEX ledger_job ON ledger(job_id);
    CREATE TABLE payments (
        charge_id TEXT PRIMARY KEY,           -- telegram_payment_charge_id
        user_id INTEGER NOT NULL REFERENCES users(id),
        payload TEXT NOT NULL,
        stars INTEGER NOT NULL,
        credits INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'refunded')),
        created_at REAL NOT NULL,
        refunded_at REAL
    );
    CREATE INDEX payments_user ON payments(user_id);
    CREATE TABLE reservations (
        key TEXT PRIMARY KEY,                 -- e.g. 'job:42', one reservation per job
        user_id INTEGER NOT NULL REFERENCES users(id),
        amount INTEGER NOT NULL CHECK (amount >= 0),
        status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'settled', 'refunded')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 3: generation jobs
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users(id),
        chat_id INTEGER NOT NULL,
        draft_key TEXT NOT NULL UNIQUE,       -- idempotency key of the confirmed draft
        model_key TEXT NOT NULL,
        mode TEXT NOT NULL,
        ratio TEXT,
        options_json TEXT NOT NULL DEFAULT '{}',
        prompt TEXT NOT NULL DEFAULT '',
        inputs_json TEXT NOT NULL DEFAULT '{}',
        family TEXT NOT NULL,
        kie_model TEXT NOT NULL DEFAULT '',
        kie_credits INTEGER NOT NULL,
        cost INTEGER NOT NULL,                -- user credits reserved
        callback_token TEXT NOT NULL UNIQUE,
        task_id TEXT UNIQUE,
        state TEXT NOT NULL DEFAULT 'created',
        progress INTEGER,
        status_message_id INTEGER,
        fail_code TEXT,
        fail_reason TEXT,
        result_urls_json TEXT,
        file_id TEXT,
        poll_count INTEGER NOT NULL DEFAULT 0,
        next_poll_at REAL,
        deadline_at REAL NOT NULL,
        created_at REAL NOT NULL,
        create_started_at REAL,               -- set just before the create call (crash recovery)
        submitted_at REAL,
        finished_at REAL,
        delivered_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_user ON jobs(user_id, id);
    CREATE INDEX jobs_state ON jobs(state);
    """,
    # 4: Stars packs accepted at pre-checkout (so a pack removed from STAR_PACKS before its
    # successful_payment arrives is still credited as sold), and the currency of each payment
    """
    CREATE TABLE pre_checkouts (
        user_id INTEGER NOT NULL,
        payload TEXT NOT NULL,
        currency TEXT NOT NULL,
        stars INTEGER NOT NULL,
        credits INTEGER NOT NULL,
        accepted_at REAL NOT NULL,
        PRIMARY KEY (user_id, payload)
    );
    ALTER TABLE payments ADD COLUMN currency TEXT NOT NULL DEFAULT 'XTR';
    """,
    # 5: delivery schedule: a charged job whose video did not reach the chat yet is retried by the
    # tracker loop (not only at start), and the schedule survives a restart.
    """
    ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN next_delivery_at REAL;
    CREATE INDEX jobs_delivery_due ON jobs(next_delivery_at) WHERE state = 'succeeded';
    """,
    # 6: possible orphan KIE tasks (create sent, no task id recorded): when the admins were told.
    # Jobs refunded that way before this migration count as told, so an upgrade sends no old alerts.
    """
    ALTER TABLE jobs ADD COLUMN orphan_alerted_at REAL;
    UPDATE jobs SET orphan_alerted_at = updated_at
        WHERE state = 'failed' AND task_id IS NULL AND fail_reason LIKE 'submission_unknown%';
    """,
    # 7: open wizards (aiogram FSM state and data), so a restart keeps every open menu working.
    # thread_id 0 and business_connection_id '' stand for "none": NULL would never match the key.
    """
    CREATE TABLE fsm (
        bot_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        thread_id INTEGER NOT NULL DEFAULT 0,
        business_connection_id TEXT NOT NULL DEFAULT '',
        destiny TEXT NOT NULL,
        state TEXT,
        data TEXT NOT NULL DEFAULT '{}',      -- a JSON object
        updated_at REAL NOT NULL,
        PRIMARY KEY (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)
    ) WITHOUT ROWID;
    CREATE INDEX fsm_updated ON fsm(updated_at);
    """,
    # 8: what KIE says each task cost (recordInfo/callback `creditsConsumed`, a decimal kept exact as
    # text), for /stats: KIE's cost per model next to what the users were charged.
    """
    ALTER TABLE jobs ADD COLUMN kie_credits_consumed TEXT;
    """,
    # 9: referrals: who invited whom (a user is invited at most once, when first seen), and when
    # the invited user's first paid top-up rewarded both (the ledger rows carry the credits).
    """
    CREATE TABLE referrals (
        invited_id INTEGER PRIMARY KEY REFERENCES users(id),
        inviter_id INTEGER NOT NULL REFERENCES users(id),
        created_at REAL NOT NULL,
        rewarded_at REAL,
        CHECK (invited_id != inviter_id)
    );
    CREATE INDEX referrals_inviter ON referrals(inviter_id);
    """,
    # 10: several instances on one database. `claimed_by`: the instance holding the job's current lease
    # (its submission, a status check or a delivery; the lease ends at submit_lease_until,
    # next_poll_at or next_delivery_at); `leases`: named leases such as the Telegram long-poll
    # leader's, taken by a conditional update.
    """
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    ALTER TABLE jobs ADD COLUMN submit_lease_until REAL;
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 11: how long KIE itself took for a finished task (its completeTime - createTime), for the
    # polling scheduler's completion-time history (exact, where finished_at is only when a poll saw it).
    """
    ALTER TABLE jobs ADD COLUMN kie_seconds REAL;
    """,
]
