"""Training certificates (培训证书): issue, print, verify in public, import history, requirements."""
