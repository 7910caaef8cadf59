from django.db import models


class Author(models.Model):
    name = models.TextField()

    class Meta:
        app_label = "library"


class Book(models.Model):
    title = models.TextField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")

    class Meta:
        app_label = "library"
