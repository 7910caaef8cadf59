from django.urls import path

from nplusone_django.library import views

urlpatterns = [
    path("books/", views.books),
    path("books/eager/", views.books_eager),
    path("authors/", views.authors),
    path("async/books/", views.async_books),
]
