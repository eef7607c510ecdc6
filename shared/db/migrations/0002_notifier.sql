-- Reserved for the notifier's schema (issue 7).
SELECT 1;
