"""The local fake WeChat server (dev, demo, tests): ``python -m ops.fake_wechat --port P``.

``server.py`` holds the state and the HTTP handlers, ``client.py`` the async helper tests
use to steer it through its ``/_fake/`` control endpoints.
"""
