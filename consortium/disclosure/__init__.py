"""What a ledger discloses, and to whom.

A node's ledger is read by anyone who can reach the node and is replicated to every member of
the consortium, so each field of each entry kind is given a *disclosure class*
(`consortium.disclosure.table`): public fields are written in clear; members, parties and
personal fields are moved out of the entry into salted documents that the entry commits to
by digest (`consortium.disclosure.sealing`); people are named by pseudonym. Anyone can still
verify the whole ledger with no secret, and a reader shown a sealed document can check it
against the signed entry. `consortium.disclosure.readers` decides who is shown what.
"""
