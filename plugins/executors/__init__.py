"""Built-in executors: where and when a study's runs are carried out."""
