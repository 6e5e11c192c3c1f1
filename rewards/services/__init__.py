"""Writes with business meaning in the rewards app, one module per concept:

- ledger: posting entries, the monthly roll-up kept with them, its proof, the negative-balance policy
- earning: the one way a purchase earns and a refund takes back (credit_purchase, reverse_refund)
- bonuses: the stamp card's bonus and the bonus actions (enrolment, birthday, referral)
- program: the draft rule, publishing versions, the program's policies
- recalculation: re-rating a past period with adjustments
- redemption: the rewards catalog, redeeming at the till and undoing
- adjustments: manual adjustments and their approval
- expiry: expiry policies and the daily expiry run
- tiers: moving customers between tiers
- liability: the liability roll-up (by month, store, kind and point value) kept with the ledger, and its proof
- books: month close and reopening; the check that nothing is dated in a closed month
- valuation: the point value's history and the merchant's breakage estimate
"""
