"""The simulated payment providers (``alipay-sim``, ``wechatpay-sim``): outside systems that happen to live in
our process. They keep their own tables (``channel_sim_*``), speak only their providers' protocols over HTTP,
and never read our tables; our side reaches them only through ``o2o.wallet.channels.clients``."""
