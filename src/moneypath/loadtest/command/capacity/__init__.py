"""`moneypath capacity`: the plan (plan), its measuring (measure), the Universal Scalability Law fit (usl), the
report (plan_report, curves) and one command's session (plan_session)."""
