"""Use cases the Lambda handlers call: presign an upload, process clip events, check drift.

Written against the `humwatch.dal` classes passed in as dependencies, so handlers stay thin and
the local stack and the tests call exactly the same code.
"""
