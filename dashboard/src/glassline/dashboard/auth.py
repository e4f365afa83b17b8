"""Optional shared-password mode for small teams (env ``GLASSLINE_DASHBOARD_PASSWORD``).

For real user accounts put the dashboard behind Streamlit's OIDC login or an authenticating
reverse proxy (see docs/dashboard.md); this gate only keeps a single shared secret.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

from glassline.dashboard.env import ENV_PASSWORD

__all__ = ["gate", "password_ok"]


def password_ok(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing does not leak the password."""
    return hmac.compare_digest(given.encode(), expected.encode())


def gate() -> bool:
    """``True`` when the visitor may see the dashboard; otherwise renders the login form."""
    expected = os.environ.get(ENV_PASSWORD, "")
    if not expected or st.session_state.get("gl_authenticated"):
        return True
    st.title("Glassline")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_ok(given, expected):
            st.session_state["gl_authenticated"] = True
            st.rerun()
        st.error("Wrong password.")
    return False
