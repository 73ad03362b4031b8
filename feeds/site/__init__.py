"""Reading a Jekyll site: its post files become Post values with Jekyll's URLs and safe HTML."""
