-- A user's own to-dos.

CREATE TYPE task_status AS ENUM ('Pending', 'Completed');

CREATE TABLE tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text CHECK (length(description) <= 1000),
    status       task_status NOT NULL DEFAULT 'Pending',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_user_idx ON tasks (user_id, created_at DESC, id DESC);
CREATE INDEX tasks_open_idx ON tasks (user_id) WHERE status = 'Pending';

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks TO stockroom_app
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
