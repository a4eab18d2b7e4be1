// Boost.URL, compiled here once in its header-only mode (Debian's libboost1.81-dev ships the
// headers; the separately built libboost-url is not needed).
#include <boost/url/src.hpp>
