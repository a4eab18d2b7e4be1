#include <tracker/messages/decode_error.hpp>

namespace tracker::messages {

void throw_exception_from_error(const DecodeError& error,
                                const boost::source_location& /*location*/) {
  throw DecodeException(error);
}

}  // namespace tracker::messages
