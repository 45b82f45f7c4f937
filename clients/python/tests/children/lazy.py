"""A child that imports polyfork without POLYFORK_PROTOCOL set: the takeover happens at the
first use of the default session, and print() after that stays off the channel."""
import polyfork


@polyfork.handle("shout")
def shout(text):
    print(text)
    return text.upper()


polyfork.run()
