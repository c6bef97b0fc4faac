"""`blog-ae`: the AWS blog's dense autoencoder on 5-frame log-mel vectors (comparison detector)."""

from humwatch.detectors.blog_ae.detector import BlogAutoencoder, BlogAutoencoderOptions

__all__ = ["BlogAutoencoder", "BlogAutoencoderOptions"]
