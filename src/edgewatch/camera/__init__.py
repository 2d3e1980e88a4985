"""IoT camera node: reads a source, limits the frame rate, streams JPEG frames to its site's edge."""
