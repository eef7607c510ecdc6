-- A notice's identity names its episode: how many times the condition (alert name, employee,
-- period) had been resolved before its alert arrived. A condition raised again after it cleared
-- (an anomaly flag that fell below the threshold and rose again, a reopened review case, a
-- PaceBehind at a later checkpoint after the employee caught up) is a new episode: its notices
-- are sent, and escalate, instead of colliding with the first episode's. Repeated firings within
-- one episode still collapse into one notice.
ALTER TABLE notice_outbox ADD COLUMN episode int NOT NULL DEFAULT 0;
DROP INDEX notice_once;
CREATE UNIQUE INDEX notice_once
    ON notice_outbox (alertname, employee_key, period, episode, channel, recipient, status);
