"""Server-rendered pages: Jinja2 templates, our own small CSS and JS, no CDN."""
