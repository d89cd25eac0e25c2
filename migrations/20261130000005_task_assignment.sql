-- Team to-dos: owners and admins create tasks for their staff; a task remembers who made it.
ALTER TABLE tasks ADD COLUMN created_by uuid REFERENCES users (id) ON DELETE SET NULL;
UPDATE tasks SET created_by = user_id;
