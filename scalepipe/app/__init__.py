"""The interactive model app (the book's chapter 2 Dash app), built from a model's
signature and the training rows' profile in its card: `scalepipe.app.page.build_app`
(Dash, the 'app' extra) over `scalepipe.app.widgets` (plain data)."""
