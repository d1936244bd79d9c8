"""The WeChat mini-program client (miniprogram/): its Node tests, run against the real backend."""
